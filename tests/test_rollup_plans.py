"""How a time range is split into runs-table spans and signed rollup pieces.

The property that matters: the pieces add up to every whole hour of the range exactly
once and to nothing else, whatever the grains, the range and the ``now`` that steers
the choice between adding finer buckets and subtracting them from a coarser one.
"""

from __future__ import annotations

import random
from collections import Counter
from datetime import UTC, datetime, timedelta, timezone

import pytest

from storage.analytics.timeline import (
    HOUR,
    Piece,
    RawSpan,
    grain_ceil,
    grain_floor,
    grain_next,
    on_grain,
    plan,
)

NOW = datetime(2026, 11, 27, 17, 42, 13, tzinfo=UTC)
START = datetime(2025, 12, 1, tzinfo=UTC)  # where the checked hours begin
GRAIN_SETS = [("h",), ("h", "d"), ("h", "d", "m")]


def _hours_of(piece: Piece, low: datetime, high: datetime) -> Counter[datetime]:
    """The hours a piece stands for within [low, high), each with the piece's sign."""
    counted: Counter[datetime] = Counter()
    bucket = grain_ceil(max(piece.start or low, low), piece.grain)
    end = high if piece.end is None else min(piece.end, high)
    while bucket < end:
        following = grain_next(bucket, piece.grain)
        hour = bucket
        while hour < following:
            counted[hour] += piece.sign
            hour += HOUR
        bucket = following
    return counted


def _net_hours(pieces: list[Piece], low: datetime, high: datetime) -> dict[datetime, int]:
    total: Counter[datetime] = Counter()
    for piece in pieces:
        total.update(_hours_of(piece, low, high))
    return {hour: count for hour, count in total.items() if count}


def _expected(start: datetime | None, end: datetime | None, low: datetime, high: datetime):
    hour, hours = max(start or low, low), {}
    while hour < min(end or high, high):
        hours[hour] = 1
        hour += HOUR
    return hours


def _random_moment(rng: random.Random) -> datetime:
    moment = START + timedelta(seconds=rng.randrange(int(timedelta(days=360).total_seconds())))
    return rng.choice([moment, grain_floor(moment, "h"), grain_floor(moment, "d")])


@pytest.mark.parametrize("grains", GRAIN_SETS)
def test_pieces_add_up_to_the_whole_hours_of_the_range_exactly(grains: tuple[str, ...]) -> None:
    rng = random.Random(20261127)
    # Checked over a window wider than any range, so stray buckets would show.
    low, high = START - timedelta(days=40), START + timedelta(days=400)
    for _ in range(120):
        since, until = sorted((_random_moment(rng), _random_moment(rng)))
        now = rng.choice([NOW, until, since + timedelta(days=3), until + timedelta(days=20)])
        found = plan(since, until, grains, now)
        if found.rolled is None:
            assert found.pieces == [] and found.raw == [RawSpan(since, until)]
            continue
        assert found.rolled.start == grain_ceil(since, "h")
        whole_hour = grain_floor(until, "h") + HOUR > now
        assert found.rolled.end == (grain_ceil if whole_hour else grain_floor)(until, "h")
        net = _net_hours(found.pieces, low, high)
        assert net == _expected(found.rolled.start, found.rolled.end, low, high), (
            since,
            until,
            now,
            found.pieces,
        )
        for piece in found.pieces:
            assert piece.grain in grains
            for bound in (piece.start, piece.end):
                assert bound is None or on_grain(bound, piece.grain)


def test_the_runs_table_answers_the_partial_hours_at_both_edges() -> None:
    since, until = datetime(2026, 10, 28, 17, 42, 13, tzinfo=UTC), NOW - timedelta(hours=1)
    found = plan(since, until, ("h", "d"), NOW)
    assert [(span.start, span.end, span.sign) for span in found.raw] == [
        (since, datetime(2026, 10, 28, 18, tzinfo=UTC), 1),
        (datetime(2026, 11, 27, 16, tzinfo=UTC), until, 1),
    ]


def test_a_range_ending_now_takes_its_last_hour_whole_less_the_runs_after_it() -> None:
    """Those runs would have started after now: the subtracted span is empty, and the
    pieces after it all lie in the future. (``until`` is taken a moment before the
    plan is made.)"""
    until = NOW - timedelta(milliseconds=3)
    found = plan(NOW - timedelta(days=3), until, ("h", "d"), NOW)
    next_hour = datetime(2026, 11, 27, 18, tzinfo=UTC)
    assert found.raw[-1] == RawSpan(until, next_hour, -1)
    assert found.rolled is not None and found.rolled.end == next_hour
    assert all(p.start is not None and p.start >= NOW for p in found.pieces if p.sign < 0)


def test_a_range_ending_now_takes_its_last_day_and_month_whole() -> None:
    """Today so far is one day row less the (empty) rest of today, not 17 hour rows;
    with months, this month so far is one month row less the rest of the month."""
    found = plan(NOW - timedelta(days=30), NOW, ("h", "d", "m"), NOW)
    month = datetime(2026, 11, 1, tzinfo=UTC)
    assert Piece("m", month, datetime(2026, 12, 1, tzinfo=UTC), 1) in found.pieces
    subtracted = [piece for piece in found.pieces if piece.sign < 0]
    assert subtracted and all(piece.start is not None for piece in subtracted)
    assert all(piece.start >= NOW for piece in subtracted if piece.start)


def test_a_bucket_is_taken_whole_only_when_that_reads_fewer_rows() -> None:
    """A day holds about 8 hours' rows and a month about 30 days': 19 hours of a day are
    its day row less 5 hours, a week of a past month stays days."""
    since, until = datetime(2026, 3, 3, 5, tzinfo=UTC), datetime(2026, 3, 9, 7, tzinfo=UTC)
    found = plan(since, until, ("h", "d", "m"), NOW)
    assert {piece.grain for piece in found.pieces} == {"h", "d"}
    assert Piece("h", since - timedelta(hours=5), since, -1) in found.pieces
    assert Piece("h", datetime(2026, 3, 9, tzinfo=UTC), until, 1) in found.pieces


def test_unbounded_ranges_read_whole_buckets_of_the_coarsest_grain() -> None:
    found = plan(None, None, ("h", "d", "m"), NOW)
    assert found.raw == [] and found.pieces == [Piece("m", None, None, 1)]
    until = datetime(2026, 11, 15, 10, 30, tzinfo=UTC)
    found = plan(None, until, ("h", "d"), NOW)
    assert Piece("d", None, datetime(2026, 11, 15, tzinfo=UTC), 1) in found.pieces


def test_times_with_another_offset_are_planned_on_utc_buckets() -> None:
    """+05:30 midnight is 18:30 UTC: the pieces must still be whole UTC hours and days."""
    india = timezone(timedelta(hours=5, minutes=30))
    since = datetime(2026, 11, 2, 0, 0, tzinfo=india)
    until = datetime(2026, 11, 20, 0, 0, tzinfo=india)
    found = plan(since, until, ("h", "d", "m"), NOW)
    assert found.raw[0].end == datetime(2026, 11, 1, 19, tzinfo=UTC)
    for piece in found.pieces:
        for bound in (piece.start, piece.end):
            assert bound is not None and on_grain(bound, piece.grain)
            assert bound.utcoffset() == timedelta(0)
    low, high = datetime(2026, 10, 1, tzinfo=UTC), datetime(2027, 1, 1, tzinfo=UTC)
    assert _net_hours(found.pieces, low, high) == _expected(
        datetime(2026, 11, 1, 19, tzinfo=UTC), datetime(2026, 11, 19, 18, tzinfo=UTC), low, high
    )


def test_month_buckets_follow_the_calendar() -> None:
    assert grain_next(datetime(2026, 12, 1, tzinfo=UTC), "m") == datetime(2027, 1, 1, tzinfo=UTC)
    assert grain_floor(datetime(2024, 2, 29, 23, 59, tzinfo=UTC), "m") == datetime(
        2024, 2, 1, tzinfo=UTC
    )
    assert grain_ceil(datetime(2026, 1, 31, 0, 1, tzinfo=UTC), "m") == datetime(
        2026, 2, 1, tzinfo=UTC
    )
