"""Edges of the time arithmetic: ranges inside one hour, single buckets, the bucket
limit, unknown zones, DST days and the SQL bucket index.

Expected bucket edges are written out by hand (local wall-clock times of the zone with
their UTC offsets), not computed with storage.analytics.timeline.
"""

from __future__ import annotations

from dataclasses import FrozenInstanceError, fields
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import create_engine, literal, select

from storage.analytics.timeline import (
    _SECONDS,
    DAY,
    GRAIN_WEIGHT,
    HOUR,
    Interval,
    Piece,
    Plan,
    RawSpan,
    Span,
    _merged,
    bucket_floor,
    bucket_index,
    bucket_starts,
    grain_ceil,
    grain_floor,
    grain_next,
    on_grain,
    plan,
    zone,
)
from storage.model.types import UTCDateTime

BERLIN = ZoneInfo("Europe/Berlin")
NOW = datetime(2026, 11, 27, 17, 42, 13, tzinfo=UTC)


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)  # type: ignore[arg-type, misc, unused-ignore]


# -- rollup grains ---------------------------------------------------------------------


def test_grain_floor_and_next_of_each_grain() -> None:
    moment = utc(2026, 12, 31, 23, 59, 59, 999999)
    assert grain_floor(moment, "h") == utc(2026, 12, 31, 23)
    assert grain_floor(moment, "d") == utc(2026, 12, 31)
    assert grain_floor(moment, "m") == utc(2026, 12, 1)
    assert grain_next(utc(2026, 12, 31, 23), "h") == utc(2027, 1, 1)
    assert grain_next(utc(2026, 12, 31), "d") == utc(2027, 1, 1)
    assert grain_next(utc(2026, 11, 1), "m") == utc(2026, 12, 1)
    assert grain_next(utc(2026, 1, 1), "m") == utc(2026, 2, 1)
    # A moment given in another zone is floored on UTC buckets and returned in UTC.
    assert grain_floor(datetime(2026, 6, 1, 1, 30, tzinfo=BERLIN), "d") == utc(2026, 5, 31)


def test_grain_ceil_keeps_a_bucket_start_and_rounds_anything_else_up() -> None:
    assert grain_ceil(utc(2026, 3, 1, 5), "h") == utc(2026, 3, 1, 5)
    assert grain_ceil(utc(2026, 3, 1, 5, 0, 0, 1), "h") == utc(2026, 3, 1, 6)
    assert grain_ceil(utc(2026, 3, 1), "d") == utc(2026, 3, 1)
    assert grain_ceil(utc(2026, 3, 1, 0, 1), "d") == utc(2026, 3, 2)
    assert on_grain(utc(2026, 3, 1), "m")
    assert not on_grain(utc(2026, 3, 2), "m")
    assert on_grain(utc(2026, 3, 2), "d")
    assert not on_grain(utc(2026, 3, 2, 1), "d")


def test_a_range_inside_one_hour_is_read_from_the_runs_table_alone() -> None:
    since, until = utc(2026, 3, 1, 5, 10), utc(2026, 3, 1, 5, 50)
    found = plan(since, until, ("h", "d", "m"), NOW)
    assert found.raw == [RawSpan(since, until)]
    assert found.pieces == [] and found.rolled is None
    # Ending exactly on the hour it started in: still no whole hour.
    found = plan(since, utc(2026, 3, 1, 6), ("h", "d"), NOW)
    assert found.raw == [RawSpan(since, utc(2026, 3, 1, 6))] and found.pieces == []


def test_a_range_across_one_hour_boundary_without_a_whole_hour_is_one_raw_span() -> None:
    since, until = utc(2026, 3, 1, 5, 10), utc(2026, 3, 1, 6, 20)
    found = plan(since, until, ("h", "d"), NOW)
    assert found.raw == [RawSpan(since, until)]
    assert found.pieces == [] and found.rolled is None


def test_a_range_of_exactly_one_past_hour_is_one_hour_piece() -> None:
    found = plan(utc(2026, 3, 1, 5), utc(2026, 3, 1, 6), ("h", "d", "m"), NOW)
    assert found.raw == []
    assert found.pieces == [Piece("h", utc(2026, 3, 1, 5), utc(2026, 3, 1, 6), 1)]
    assert found.rolled == Span(utc(2026, 3, 1, 5), utc(2026, 3, 1, 6))


def test_a_whole_past_day_and_month_are_one_piece_each() -> None:
    found = plan(utc(2026, 3, 4), utc(2026, 3, 5), ("h", "d", "m"), NOW)
    assert found.pieces == [Piece("d", utc(2026, 3, 4), utc(2026, 3, 5), 1)]
    found = plan(utc(2026, 3, 1), utc(2026, 4, 1), ("h", "d", "m"), NOW)
    assert found.pieces == [Piece("m", utc(2026, 3, 1), utc(2026, 4, 1), 1)]
    # Without day rows a past day is its 24 hours.
    found = plan(utc(2026, 3, 4), utc(2026, 3, 5), ("h",), NOW)
    assert found.pieces == [Piece("h", utc(2026, 3, 4), utc(2026, 3, 5), 1)]


def test_costs_choose_hours_for_a_short_stretch_and_the_day_for_a_long_one() -> None:
    """A past day row costs 0.5 + 8, an hour piece 0.5 + hours: 3 hours of a day are
    hours (3.5 < 8.5 + 21.5), 22 hours are the day less 2 hours (8.5 + 2.5 < 22.5)."""
    assert GRAIN_WEIGHT == {"h": 1.0, "d": 8.0, "m": 30.0}
    short = plan(utc(2026, 3, 4, 10), utc(2026, 3, 4, 13), ("h", "d"), NOW)
    assert short.pieces == [Piece("h", utc(2026, 3, 4, 10), utc(2026, 3, 4, 13), 1)]
    long = plan(utc(2026, 3, 4, 1), utc(2026, 3, 4, 23), ("h", "d"), NOW)
    assert long.pieces == [
        Piece("d", utc(2026, 3, 4), utc(2026, 3, 5), 1),
        Piece("h", utc(2026, 3, 4), utc(2026, 3, 4, 1), -1),
        Piece("h", utc(2026, 3, 4, 23), utc(2026, 3, 5), -1),
    ]
    # 7 hours: 7.5 as hours, 8.5 + 17.5 as the day less the rest: hours.
    seven = plan(utc(2026, 3, 4, 0), utc(2026, 3, 4, 7), ("h", "d"), NOW)
    assert [p.grain for p in seven.pieces] == ["h"]
    # 16 of 24 hours at the start of the day: 16.5 against 8.5 + 8.5: hours.
    sixteen = plan(utc(2026, 3, 4, 0), utc(2026, 3, 4, 16), ("h", "d"), NOW)
    assert [p.grain for p in sixteen.pieces] == ["h"]
    # 18 hours: 18.5 against 8.5 + 6.5: the day less 6 hours.
    eighteen = plan(utc(2026, 3, 4, 0), utc(2026, 3, 4, 18), ("h", "d"), NOW)
    assert eighteen.pieces == [
        Piece("d", utc(2026, 3, 4), utc(2026, 3, 5), 1),
        Piece("h", utc(2026, 3, 4, 18), utc(2026, 3, 5), -1),
    ]


def test_a_range_in_the_first_hours_of_today_is_read_as_hours() -> None:
    """Today's day row costs only its part before now: 0.5 + 8 × 17.7/24 ≈ 6.4, plus the
    hours from 10:00 to now (0.5 + 7.7): more than the ten hours (10.5)."""
    found = plan(utc(2026, 11, 27), utc(2026, 11, 27, 10), ("h", "d"), NOW)
    assert found.pieces == [Piece("h", utc(2026, 11, 27), utc(2026, 11, 27, 10), 1)]


def test_the_probe_cost_of_each_piece_tips_twelve_hours_of_today_to_hours() -> None:
    """Today to 12:00 with now 17:42:13: the day row less 12:00 to now costs
    (0.5 + 8 × 17.7036/24) + (0.5 + 5.7036) ≈ 12.605, the 12 hours 12.5: hours. Without
    the 0.5 a piece costs, the day row would win."""
    found = plan(utc(2026, 11, 27), utc(2026, 11, 27, 12), ("h", "d"), NOW)
    assert found.pieces == [Piece("h", utc(2026, 11, 27), utc(2026, 11, 27, 12), 1)]


def test_one_probe_more_costs_half_an_hour_row() -> None:
    """Now 17:15: the day row so far (0.5 + 8 × 0.71875 = 6.25) less 12:00 to now
    (0.5 + 5.25) costs 12.0, twelve hour rows 12.5: the day row, by less than the 0.5
    probe each extra piece costs."""
    now = utc(2026, 11, 27, 17, 15)
    found = plan(utc(2026, 11, 27), utc(2026, 11, 27, 12), ("h", "d"), now)
    assert found.pieces == [
        Piece("d", utc(2026, 11, 27), utc(2026, 11, 28), 1),
        Piece("h", utc(2026, 11, 27, 12), utc(2026, 11, 28), -1),
    ]


def test_the_cost_model_counts_rows_per_bucket_length() -> None:
    """An hour row per 3600 s, a day row per 86,400 s, a month row per 30 days."""
    assert _SECONDS == {"h": 3600.0, "d": 86400.0, "m": 30 * 86400.0}


def test_a_tie_in_cost_keeps_the_finer_pieces() -> None:
    """Now 17:37:30: the day row so far costs 0.5 + 8 × 47/64 = 6.375 and 12:00 to now
    0.5 + 5.625, together exactly the 12.5 of twelve hour rows: no subtraction."""
    now = utc(2026, 11, 27, 17, 37, 30)
    found = plan(utc(2026, 11, 27), utc(2026, 11, 27, 12), ("h", "d"), now)
    assert found.pieces == [Piece("h", utc(2026, 11, 27), utc(2026, 11, 27, 12), 1)]


def test_pieces_starting_exactly_now_may_be_subtracted_without_subtracting_the_past() -> None:
    now = utc(2026, 11, 27, 18)
    found = plan(utc(2026, 11, 27), now, ("h", "d"), now, subtract_past=False)
    assert found.pieces == [
        Piece("d", utc(2026, 11, 27), utc(2026, 11, 28), 1),
        Piece("h", now, utc(2026, 11, 28), -1),
    ]


def test_merging_compares_each_piece_with_the_last_merged_one() -> None:
    pieces = [
        Piece("h", utc(2026, 3, 4, 1), utc(2026, 3, 4, 2), 1),
        Piece("h", utc(2026, 3, 4, 5), utc(2026, 3, 4, 6), 1),
        Piece("h", utc(2026, 3, 4, 6), utc(2026, 3, 4, 7), 1),
        Piece("h", utc(2026, 3, 4, 7), utc(2026, 3, 4, 8), -1),
        Piece("d", None, utc(2026, 3, 4), 1),
    ]
    # A piece open at the start sorts first, so the piece after it can join it.
    assert _merged(
        [
            Piece("h", utc(2026, 3, 4, 1), utc(2026, 3, 4, 2), 1),
            Piece("h", None, utc(2026, 3, 4, 1), 1),
        ]
    ) == [Piece("h", None, utc(2026, 3, 4, 2), 1)]
    assert _merged(pieces[::-1]) == [
        Piece("d", None, utc(2026, 3, 4), 1),
        Piece("h", utc(2026, 3, 4, 7), utc(2026, 3, 4, 8), -1),
        Piece("h", utc(2026, 3, 4, 1), utc(2026, 3, 4, 2), 1),
        Piece("h", utc(2026, 3, 4, 5), utc(2026, 3, 4, 7), 1),
    ]


def test_plan_parts_are_immutable_values() -> None:
    """Plans are cached and shared between queries: none of their parts may change."""
    parts: list[Piece | RawSpan | Span | Plan] = [
        Piece("h", None, None, 1),
        RawSpan(None, None),
        Span(None, None),
        plan(None, None, ("h",), NOW),
    ]
    for part in parts:
        # A frozen slotted dataclass refuses with FrozenInstanceError, or with TypeError
        # where Python 3.11's zero-argument super() in slotted classes trips first.
        with pytest.raises((FrozenInstanceError, TypeError)):
            setattr(part, fields(part)[0].name, None)
        assert not hasattr(part, "__dict__")


def test_adjacent_pieces_of_one_grain_are_merged() -> None:
    """Two days and the hours either side: one day piece, one hour piece per edge."""
    found = plan(utc(2026, 3, 3, 22), utc(2026, 3, 6, 2), ("h", "d"), NOW)
    assert found.pieces == [
        Piece("d", utc(2026, 3, 4), utc(2026, 3, 6), 1),
        Piece("h", utc(2026, 3, 3, 22), utc(2026, 3, 4), 1),
        Piece("h", utc(2026, 3, 6), utc(2026, 3, 6, 2), 1),
    ]


def test_additive_plans_subtract_nothing() -> None:
    until = NOW - timedelta(minutes=1)
    found = plan(utc(2026, 11, 27, 0, 30), until, ("h", "d"), NOW, additive=True)
    assert all(span.sign == 1 for span in found.raw)
    assert all(piece.sign == 1 for piece in found.pieces)
    assert found.raw[-1] == RawSpan(utc(2026, 11, 27, 17), until)
    assert found.pieces == [Piece("h", utc(2026, 11, 27, 1), utc(2026, 11, 27, 17), 1)]


def test_without_subtracting_the_past_a_past_day_stays_hours() -> None:
    """22 hours of a past day would be the day less two past hours; not allowed here."""
    found = plan(utc(2026, 3, 4, 1), utc(2026, 3, 4, 23), ("h", "d"), NOW, subtract_past=False)
    assert found.pieces == [Piece("h", utc(2026, 3, 4, 1), utc(2026, 3, 4, 23), 1)]
    # Today's remaining hours lie after now: subtracting them is still allowed.
    today = plan(utc(2026, 11, 27), NOW, ("h", "d"), NOW, subtract_past=False)
    assert today.pieces == [
        Piece("d", utc(2026, 11, 27), utc(2026, 11, 28), 1),
        Piece("h", utc(2026, 11, 27, 18), utc(2026, 11, 28), -1),
    ]


def test_an_hour_that_ended_exactly_now_is_read_from_the_runs_table() -> None:
    """17:00-18:00 has ended when now is 18:00:00: its part up to until is a plain
    runs-table span, not the whole hour less what follows."""
    now = utc(2026, 11, 27, 18)
    until = utc(2026, 11, 27, 17, 30)
    found = plan(utc(2026, 11, 27, 10), until, ("h", "d"), now)
    assert found.raw == [RawSpan(utc(2026, 11, 27, 17), until)]
    assert found.rolled == Span(utc(2026, 11, 27, 10), utc(2026, 11, 27, 17))


def test_plans_need_the_hour_grain() -> None:
    with pytest.raises(ValueError, match="hour grain"):
        plan(utc(2026, 3, 1), utc(2026, 3, 5), ("d",), NOW)


def test_open_ends_use_the_coarsest_grain() -> None:
    found = plan(utc(2026, 3, 4, 22), None, ("h", "d"), NOW)
    assert found.raw == []
    assert found.pieces == [
        Piece("d", utc(2026, 3, 5), None, 1),
        Piece("h", utc(2026, 3, 4, 22), utc(2026, 3, 5), 1),
    ]
    found = plan(None, utc(2026, 3, 4, 2, 30), ("h", "d"), NOW)
    assert found.raw == [RawSpan(utc(2026, 3, 4, 2), utc(2026, 3, 4, 2, 30))]
    assert found.pieces == [
        Piece("d", None, utc(2026, 3, 4), 1),
        Piece("h", utc(2026, 3, 4), utc(2026, 3, 4, 2), 1),
    ]


# -- zone-aligned buckets --------------------------------------------------------------


def test_an_unknown_time_zone_is_a_value_error() -> None:
    for name in ("Mars/Olympus_Mons", "", "../etc/passwd", "Europe/"):
        with pytest.raises(ValueError, match="unknown time zone"):
            zone(name)
    assert zone("Europe/Berlin") == BERLIN


def test_a_range_inside_one_bucket_is_a_one_bucket_series() -> None:
    since, until = utc(2026, 3, 4, 10, 15), utc(2026, 3, 4, 10, 45)
    starts = bucket_starts(since, until, Interval.HOUR, ZoneInfo("UTC"), 1)
    assert starts == [utc(2026, 3, 4, 10), utc(2026, 3, 4, 11)]
    day = bucket_starts(since, until, Interval.DAY, BERLIN, 1)
    assert day == [
        datetime(2026, 3, 4, tzinfo=BERLIN),
        datetime(2026, 3, 5, tzinfo=BERLIN),
    ]


def test_the_bucket_limit_allows_exactly_the_limit_and_not_one_more() -> None:
    since = utc(2026, 3, 4)
    exactly = bucket_starts(since, since + 5 * HOUR, Interval.HOUR, ZoneInfo("UTC"), 5)
    assert exactly == [since + i * HOUR for i in range(6)]
    with pytest.raises(ValueError, match="more than 5 buckets"):
        bucket_starts(since, since + 5 * HOUR + timedelta(seconds=1), Interval.HOUR, UTC_ZONE, 5)
    with pytest.raises(ValueError, match="more than 5 buckets"):
        bucket_starts(since, since + 6 * HOUR, Interval.HOUR, UTC_ZONE, 5)


UTC_ZONE = ZoneInfo("UTC")


def test_bucket_floor_of_each_interval_in_a_zone() -> None:
    moment = utc(2026, 3, 4, 23, 30)  # Thursday 5 March 00:30 in Berlin (UTC+1)
    assert bucket_floor(moment, Interval.HOUR, BERLIN) == datetime(2026, 3, 5, 0, tzinfo=BERLIN)
    assert bucket_floor(moment, Interval.DAY, BERLIN) == datetime(2026, 3, 5, tzinfo=BERLIN)
    assert bucket_floor(moment, Interval.WEEK, BERLIN) == datetime(2026, 3, 2, tzinfo=BERLIN)
    assert bucket_floor(moment, Interval.MONTH, BERLIN) == datetime(2026, 3, 1, tzinfo=BERLIN)
    assert bucket_floor(moment, Interval.DAY, UTC_ZONE) == utc(2026, 3, 4)
    # A Monday is its own week's start.
    assert bucket_floor(utc(2026, 3, 2, 12), Interval.WEEK, UTC_ZONE) == utc(2026, 3, 2)


def test_day_buckets_across_the_spring_and_autumn_changes() -> None:
    """Berlin's 29 March 2026 has 23 hours, 25 October 2026 has 25."""
    spring = bucket_starts(utc(2026, 3, 28, 12), utc(2026, 3, 30, 1), Interval.DAY, BERLIN, 10)
    assert [s.astimezone(UTC) for s in spring] == [
        utc(2026, 3, 27, 23), utc(2026, 3, 28, 23), utc(2026, 3, 29, 22), utc(2026, 3, 30, 22),
    ]  # fmt: skip
    autumn = bucket_starts(utc(2026, 10, 24, 12), utc(2026, 10, 25, 23), Interval.DAY, BERLIN, 10)
    assert [s.astimezone(UTC) for s in autumn] == [
        utc(2026, 10, 23, 22), utc(2026, 10, 24, 22), utc(2026, 10, 25, 23),
    ]  # fmt: skip


def test_hour_buckets_step_in_utc_through_a_repeated_hour() -> None:
    """25 October 2026, Berlin: 02:00-03:00 happens twice (CEST, then CET)."""
    starts = bucket_starts(utc(2026, 10, 25, 0), utc(2026, 10, 25, 2), Interval.HOUR, BERLIN, 9)
    assert [s.astimezone(UTC) for s in starts] == [utc(2026, 10, 25, h) for h in (0, 1, 2)]
    assert [(s.hour, s.utcoffset()) for s in starts] == [
        (2, timedelta(hours=2)), (2, timedelta(hours=1)), (3, timedelta(hours=1)),
    ]  # fmt: skip


def test_week_and_month_buckets_step_on_the_local_calendar() -> None:
    weeks = bucket_starts(utc(2026, 3, 20), utc(2026, 4, 1), Interval.WEEK, BERLIN, 9)
    assert weeks == [
        datetime(2026, 3, 16, tzinfo=BERLIN),
        datetime(2026, 3, 23, tzinfo=BERLIN),
        datetime(2026, 3, 30, tzinfo=BERLIN),
        datetime(2026, 4, 6, tzinfo=BERLIN),
    ]
    assert weeks[2].utcoffset() == timedelta(hours=2)  # summer time by then
    months = bucket_starts(utc(2026, 11, 15), utc(2027, 1, 31, 23), Interval.MONTH, BERLIN, 9)
    assert months == [
        datetime(2026, 11, 1, tzinfo=BERLIN),
        datetime(2026, 12, 1, tzinfo=BERLIN),
        datetime(2027, 1, 1, tzinfo=BERLIN),
        datetime(2027, 2, 1, tzinfo=BERLIN),
    ]
    # An odd year's December too (a year step by XOR would land in 2026 here).
    assert bucket_starts(utc(2027, 12, 5), utc(2028, 1, 2), Interval.MONTH, UTC_ZONE, 9) == [
        utc(2027, 12, 1),
        utc(2028, 1, 1),
        utc(2028, 2, 1),
    ]
    assert grain_next(utc(2027, 12, 1), "m") == utc(2028, 1, 1)


def test_a_midnight_skipped_by_dst_starts_its_day_at_the_end_of_the_gap() -> None:
    """Santiago skips 00:00-01:00 on 6 September 2026: that day starts at 01:00 (-03)."""
    santiago = ZoneInfo("America/Santiago")
    starts = bucket_starts(utc(2026, 9, 5, 12), utc(2026, 9, 6, 12), Interval.DAY, santiago, 5)
    assert [s.astimezone(UTC) for s in starts] == [
        utc(2026, 9, 5, 4), utc(2026, 9, 6, 4), utc(2026, 9, 7, 3),
    ]  # fmt: skip
    assert (starts[1].hour, starts[2].hour) == (1, 0)


# -- the SQL bucket index ----------------------------------------------------------------


def _index_in_sql(moment: datetime, edges: list[datetime]) -> object:
    expression = bucket_index(literal(moment, UTCDateTime()), edges)
    with create_engine("sqlite://").connect() as connection:
        return connection.execute(select(expression)).scalar_one()


@pytest.mark.parametrize("buckets", [1, 2, 3, 4, 5, 8])
def test_bucket_index_finds_each_bucket_and_nothing_outside(buckets: int) -> None:
    edges = [utc(2026, 3, 1) + i * DAY for i in range(buckets + 1)]
    for index in range(buckets):
        assert _index_in_sql(edges[index], edges) == index
        assert _index_in_sql(edges[index + 1] - timedelta(microseconds=1), edges) == index
    assert _index_in_sql(edges[0] - timedelta(microseconds=1), edges) is None
    assert _index_in_sql(edges[-1], edges) is None
    assert _index_in_sql(edges[-1] + timedelta(days=3), edges) is None


def test_bucket_index_needs_a_bucket() -> None:
    with pytest.raises(ValueError, match="at least one bucket"):
        bucket_index(literal(utc(2026, 3, 1), UTCDateTime()), [utc(2026, 3, 1)])
