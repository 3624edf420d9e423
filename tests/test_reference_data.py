"""The analytics reference's own parts: the seeded dataset and the plain-Python calculator.

- the generator (tests/utils/reference_data.py) is deterministic, covers every dimension
  (with missing values), every outcome and the DST changes it promises, and what the
  service stores after ingesting its events is exactly what it says each run is (on
  both stores: this also pins the service's merge);
- the calculator (tests/utils/reference_calc.py) gives the obvious answers on tiny
  hand-made run lists for each rule of docs/analytics.md.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from storage.engine import open_database
from storage.model.tables import EVENTS, RUNS
from tests.utils import reference_calc as calc
from tests.utils.reference_data import (
    DST_ZONES,
    EXPECTED_FIELDS,
    LONG_FIRST_LINE,
    Dataset,
    ExpectedRun,
    dst_transitions,
    expected_row,
    generate_dataset,
    load_dataset,
)

NOVEMBER = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
APRIL = datetime(2027, 4, 10, 12, 0, tzinfo=UTC)
THREE_HOURS = timedelta(hours=3)


@pytest.fixture(scope="module")
def november() -> Dataset:
    return generate_dataset(7, runs=3000, days=90, now=NOVEMBER)


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


# -- the generator -------------------------------------------------------------------------


def test_same_seed_gives_the_same_dataset_and_another_seed_another() -> None:
    first = generate_dataset(11, runs=300, now=NOVEMBER)
    again = generate_dataset(11, runs=300, now=NOVEMBER)
    other = generate_dataset(12, runs=300, now=NOVEMBER)
    assert first == again
    assert first.wire_events() == again.wire_events()
    assert first.expected != other.expected


def test_run_ids_are_unique(november: Dataset) -> None:
    ids = [run.run_id for run in november.expected]
    assert len(set(ids)) == len(ids)


@pytest.mark.parametrize(
    "dimension", [d for d in calc.DIMENSIONS if d not in ("APP", "KIND", "OUTCOME")]
)
def test_every_dimension_varies_and_is_missing_for_some_runs(
    november: Dataset, dimension: str
) -> None:
    keys = Counter(calc.dimension_key(run, dimension, NOVEMBER) for run in november.expected)
    missing = keys.pop(None, 0)
    assert len(keys) >= 2, keys
    assert missing >= 5


def test_apps_have_a_long_tail(november: Dataset) -> None:
    runs_per_app = Counter(run.app for run in november.expected)
    assert len(runs_per_app) >= 55
    most, *_, fewest = sorted(runs_per_app.values(), reverse=True)
    assert most >= 20 * fewest


def test_every_outcome_and_edge_case_occurs(november: Dataset) -> None:
    runs = november.expected
    effective = Counter(calc.effective_outcome(run, NOVEMBER, THREE_HOURS) for run in runs)
    assert set(effective) == set(calc.OUTCOMES)
    assert all(count >= 10 for count in effective.values()), effective
    kinds = Counter(run.kind for run in runs)
    assert 0.05 < kinds["UPDATE"] / len(runs) < 0.15
    failed = [run for run in runs if run.outcome == "FAILED"]
    aborted_codes = {run.exit_code for run in runs if run.outcome == "ABORTED"}
    assert {129, 130, 143, None} <= aborted_codes
    assert any(run.exit_code is None and run.error_category is None for run in failed)
    assert any(run.exit_code_inferred for run in failed)
    assert {42, 99} <= {run.exit_code for run in failed}  # not in the reference table
    assert any(run.error is None for run in failed)
    first_lines = [run.error.split("\n")[0] for run in failed if run.error is not None]
    assert any(len(line) > 300 and LONG_FIRST_LINE[:40] in line for line in first_lines)
    successes = [run for run in runs if run.outcome == "SUCCESS"]
    assert any(run.duration_seconds is None for run in successes)
    assert any(run.duration_seconds is not None for run in successes)
    assert any(run.duration_seconds is not None for run in failed)
    assert any(run.exit_code is None for run in successes)
    updates = [run for run in runs if run.kind == "UPDATE"]
    assert any(run.app_version for run in updates)
    assert all(run.app_version is None for run in runs if run.kind == "INSTALL")
    assert any(run.pve_version and run.pve_version.startswith("incus-") for run in runs)
    retried = [g for g in november.runs if len(g.events) > g.expected.event_count]
    assert retried


@pytest.mark.parametrize("now", [NOVEMBER, APRIL], ids=["autumn", "spring"])
def test_dst_changes_lie_inside_the_range_with_runs_around_them(now: datetime) -> None:
    dataset = generate_dataset(3, runs=2000, days=90, now=now)
    starts = [run.started_at for run in dataset.expected]
    for zone in DST_ZONES:
        changes = dst_transitions(zone, min(starts), max(starts))
        assert changes, zone
        for change in changes:
            near = [s for s in starts if abs(s - change) <= timedelta(hours=2)]
            assert len(near) >= 3, (zone, change)


def test_dst_transitions_are_found_where_the_zones_change() -> None:
    autumn = dst_transitions(
        "Europe/Berlin", utc("2026-10-01T00:00:00+00:00"), utc("2026-11-30T00:00:00+00:00")
    )
    assert autumn == [utc("2026-10-25T01:00:00+00:00")]
    spring = dst_transitions(
        "America/New_York", utc("2027-03-01T00:00:00+00:00"), utc("2027-04-01T00:00:00+00:00")
    )
    assert spring == [utc("2027-03-14T07:00:00+00:00")]


def test_events_are_time_ordered_and_never_after_now(november: Dataset) -> None:
    for generated in november.runs:
        run, times = generated.expected, generated.event_times
        distinct = sorted(set(times))
        assert list(times) == sorted(times)  # in event-time order; a retry repeats its time
        assert len(distinct) == run.event_count
        assert (run.started_at, run.last_seen_at) == (distinct[0], distinct[-1])
        assert run.last_seen_at <= NOVEMBER
        assert run.started_at >= NOVEMBER - timedelta(days=90) - timedelta(hours=1)
        for (_, raw), moment in zip(generated.events, times, strict=True):
            assert utc(raw["timestamp"].replace("Z", "+00:00")) == moment
        if run.outcome == "IN_PROGRESS":
            age = NOVEMBER - run.last_seen_at
            assert age <= timedelta(hours=2) or age >= timedelta(hours=4)


async def test_loaded_runs_equal_the_generated_ones(database_url: str) -> None:
    dataset = generate_dataset(5, runs=600, now=datetime.now(UTC))
    await load_dataset(database_url, dataset)
    database = open_database(database_url)
    try:
        async with database.reader.connect() as conn:
            rows = {row.id: dict(row._mapping) for row in await conn.execute(select(RUNS))}
            events = (await conn.execute(select(func.count()).select_from(EVENTS))).scalar_one()
    finally:
        await database.dispose()
    assert len(rows) == 600
    assert events == sum(run.event_count for run in dataset.expected)
    mismatches = []
    for run in dataset.expected:
        expected = expected_row(run)
        stored = {name: rows[run.run_id][name] for name in expected}
        if stored != expected:
            differing = {k: (stored[k], expected[k]) for k in expected if stored[k] != expected[k]}
            mismatches.append((run.run_id, differing))
    assert not mismatches, mismatches[:5]


# -- the calculator: builders -----------------------------------------------------------------

BASE = datetime(2026, 10, 20, 12, 0, tzinfo=UTC)
NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


def make_run(run_id: str, **overrides: Any) -> ExpectedRun:
    values: dict[str, Any] = dict.fromkeys(EXPECTED_FIELDS)
    started_at = overrides.pop("started_at", BASE)
    values |= {
        "run_id": run_id,
        "kind": "INSTALL",
        "app": "docker",
        "exit_code_inferred": False,
        "outcome": "SUCCESS",
        "started_at": started_at,
        "last_seen_at": started_at + timedelta(minutes=5),
        "event_count": 3,
    }
    values |= overrides
    return ExpectedRun(**values)


def runs_of(*specs: tuple[str, dict[str, Any]]) -> list[ExpectedRun]:
    return [make_run(f"r{index}", **{"outcome": outcome, **extra})
            for index, (outcome, extra) in enumerate(specs)]  # fmt: skip


def starts(series: dict[str, Any]) -> list[str]:
    return [point["start"] for point in series["points"]]


# -- the calculator: rates, percentiles, outcome -----------------------------------------------


def test_wilson_interval_of_8_out_of_10() -> None:
    result = calc.rate(8, 10)
    assert result["value"] == 0.8
    assert (result["numerator"], result["denominator"]) == (8, 10)
    assert result["low"] == pytest.approx(0.4901624, abs=1e-6)
    assert result["high"] == pytest.approx(0.9433178, abs=1e-6)


def test_rate_without_denominator_is_null_and_zero_rate_starts_at_zero() -> None:
    assert calc.rate(0, 0) == {
        "value": None, "numerator": 0, "denominator": 0, "low": None, "high": None
    }  # fmt: skip
    zero = calc.rate(0, 5)
    assert zero["value"] == 0.0 and zero["low"] == 0.0
    assert zero["high"] == pytest.approx(0.4344825, abs=1e-6)


def test_nearest_rank_percentiles() -> None:
    assert calc.nearest_rank([50, 15, 40, 20, 35], 50) == 35
    assert calc.nearest_rank([50, 15, 40, 20, 35], 95) == 50
    assert calc.nearest_rank(list(range(1, 21)), 95) == 19
    assert calc.nearest_rank(list(range(1, 21)), 50) == 10
    assert calc.nearest_rank(list(range(1, 101)), 95) == 95
    assert calc.nearest_rank([7], 50) == calc.nearest_rank([7], 95) == 7
    assert calc.nearest_rank([], 50) is None


def test_durations_come_from_successful_runs_only() -> None:
    runs = runs_of(
        ("SUCCESS", {"duration_seconds": 100}),
        ("SUCCESS", {"duration_seconds": 300}),
        ("SUCCESS", {}),
        ("FAILED", {"duration_seconds": 5}),
    )
    [row] = calc.app_stats(runs, None, NOW)
    assert (row["durationP50"], row["durationP95"]) == (100, 300)


def test_unfinished_once_the_last_event_is_older_than_the_threshold() -> None:
    now = BASE + timedelta(hours=10)
    at_threshold = make_run("a", outcome="IN_PROGRESS", last_seen_at=now - THREE_HOURS)
    past_it = make_run(
        "b", outcome="IN_PROGRESS", last_seen_at=now - THREE_HOURS - timedelta(microseconds=1)
    )
    assert calc.effective_outcome(at_threshold, now, THREE_HOURS) == "IN_PROGRESS"
    assert calc.effective_outcome(past_it, now, THREE_HOURS) == "UNFINISHED"
    assert calc.effective_outcome(past_it, now, 4 * 3600) == "IN_PROGRESS"


def test_summary_counts_runs_events_and_the_success_rate() -> None:
    now = BASE + timedelta(days=1)
    runs = runs_of(
        ("SUCCESS", {}), ("SUCCESS", {}), ("FAILED", {}), ("ABORTED", {}), ("UNKNOWN", {}),
        ("IN_PROGRESS", {"last_seen_at": now - timedelta(hours=1)}),
        ("IN_PROGRESS", {"last_seen_at": now - timedelta(hours=5)}),
    )  # fmt: skip
    result = calc.summary(runs, None, now)
    assert {k: v for k, v in result.items() if k != "successRate"} == {
        "runs": 7, "events": 21, "success": 2, "failed": 1, "aborted": 1, "unknown": 1,
        "unfinished": 1, "inProgress": 1,
    }  # fmt: skip
    assert result["successRate"] == calc.rate(2, 3)


# -- the calculator: filter ---------------------------------------------------------------------


def test_filter_lists_or_within_and_across_missing_never_matches() -> None:
    runs = [
        make_run("a", os_type="debian", method="default", exit_code=0),
        make_run("b", os_type="alpine", method="advanced", exit_code=1, outcome="FAILED"),
        make_run("c", os_type=None, method="default"),
    ]

    def ids(flt: dict[str, Any]) -> list[str]:
        return [run.run_id for run in calc.select(runs, flt, NOW)]

    assert ids({}) == ["a", "b", "c"]
    assert ids({"osTypes": ["DEBIAN", "alpine"]}) == ["a", "b"]
    assert ids({"osTypes": [], "methods": ["Default"]}) == ["a", "c"]
    assert ids({"osTypes": ["debian"], "methods": ["advanced"]}) == []
    assert ids({"exitCodes": [0, 1]}) == ["a", "b"]
    assert ids({"outcomes": ["FAILED"]}) == ["b"]
    assert ids({"repoSources": ["ProxmoxVE"]}) == []


def test_filter_time_range_is_since_inclusive_until_exclusive() -> None:
    runs = [make_run(str(h), started_at=BASE + timedelta(hours=h)) for h in range(4)]
    flt = {"since": BASE + timedelta(hours=1), "until": (BASE + timedelta(hours=3)).isoformat()}
    assert [run.run_id for run in calc.select(runs, flt, NOW)] == ["1", "2"]


# -- the calculator: time buckets -----------------------------------------------------------------


def test_day_buckets_in_berlin_last_25_hours_in_october_and_23_in_march() -> None:
    autumn = calc.bucket_starts(
        utc("2026-10-24T00:00:00+02:00"), utc("2026-10-27T00:00:00+01:00"), "DAY",
        ZoneInfo("Europe/Berlin"),
    )  # fmt: skip
    assert [s.isoformat() for s in autumn] == [
        "2026-10-24T00:00:00+02:00", "2026-10-25T00:00:00+02:00", "2026-10-26T00:00:00+01:00"
    ]  # fmt: skip
    # Subtract instants: aware datetimes of one zone subtract as wall-clock times.
    assert utc(autumn[2].isoformat()) - utc(autumn[1].isoformat()) == timedelta(hours=25)
    spring = calc.bucket_starts(
        utc("2026-03-29T00:00:00+01:00"), utc("2026-03-30T00:00:00+02:00"), "DAY",
        ZoneInfo("Europe/Berlin"),
    )  # fmt: skip
    [only] = spring
    following = calc.next_bucket(only, "DAY", ZoneInfo("Europe/Berlin"))
    assert following.isoformat() == "2026-03-30T00:00:00+02:00"
    assert utc(following.isoformat()) - utc(only.isoformat()) == timedelta(hours=23)


def test_a_midnight_skipped_by_dst_starts_its_day_at_the_end_of_the_gap() -> None:
    santiago = ZoneInfo("America/Santiago")
    days = calc.bucket_starts(
        utc("2026-09-05T00:00:00-04:00"), utc("2026-09-07T00:00:00-03:00"), "DAY", santiago
    )
    assert [s.isoformat() for s in days] == [
        "2026-09-05T00:00:00-04:00", "2026-09-06T01:00:00-03:00"
    ]  # fmt: skip
    run_time = utc("2026-09-06T04:30:00+00:00")  # 01:30 local, the first local day-hour
    assert calc.bucket_start(run_time, "DAY", santiago).isoformat() == days[1].isoformat()
    havana = ZoneInfo("America/Havana")  # 01:00 -> 00:00: midnight happens twice
    repeated = calc.bucket_start(utc("2026-11-01T05:30:00+00:00"), "DAY", havana)
    assert repeated.isoformat() == "2026-11-01T00:00:00-04:00"


def test_day_series_counts_runs_by_local_day_around_the_dst_change() -> None:
    runs = [
        make_run("late-sunday", started_at=utc("2026-10-25T23:30:00+01:00")),
        make_run("early-sunday", started_at=utc("2026-10-25T00:10:00+02:00")),
        make_run("saturday", started_at=utc("2026-10-24T23:59:59+02:00"), outcome="FAILED"),
        make_run("before-since", started_at=utc("2026-10-23T23:00:00+02:00")),
    ]
    flt = {"since": "2026-10-24T00:00:00+02:00", "until": "2026-10-27T00:00:00+01:00"}
    [series] = calc.time_series(runs, flt, NOW, interval="DAY", timezone="Europe/Berlin")
    assert series["key"] == "all"
    assert [(p["start"], p["runs"], p["success"], p["failed"]) for p in series["points"]] == [
        ("2026-10-24T00:00:00+02:00", 1, 0, 1),
        ("2026-10-25T00:00:00+02:00", 2, 2, 0),
        ("2026-10-26T00:00:00+01:00", 0, 0, 0),
    ]
    assert series["points"][2]["successRate"]["value"] is None


def test_new_york_day_bucket_follows_local_midnight() -> None:
    # 03:30 UTC on 1 Nov is 23:30 EDT on 31 Oct.
    run = make_run("x", started_at=utc("2026-11-01T03:30:00+00:00"))
    flt = {"since": "2026-10-31T00:00:00-04:00", "until": "2026-11-02T00:00:00-05:00"}
    [series] = calc.time_series([run], flt, NOW, interval="DAY", timezone="America/New_York")
    assert [(p["start"], p["runs"]) for p in series["points"]] == [
        ("2026-10-31T00:00:00-04:00", 1),
        ("2026-11-01T00:00:00-04:00", 0),
    ]


def test_hour_buckets_repeat_the_local_hour_when_clocks_go_back() -> None:
    flt = {"since": "2026-10-25T00:00:00+00:00", "until": "2026-10-25T02:00:00+00:00"}
    [series] = calc.time_series([], flt, NOW, interval="HOUR", timezone="Europe/Berlin")
    assert starts(series) == ["2026-10-25T02:00:00+02:00", "2026-10-25T02:00:00+01:00"]


def test_hour_buckets_in_a_half_hour_zone_start_at_half_past_utc() -> None:
    flt = {"since": "2026-11-01T00:00:00+00:00", "until": "2026-11-01T01:00:00+00:00"}
    [series] = calc.time_series([], flt, NOW, interval="HOUR", timezone="Asia/Kolkata")
    assert starts(series) == ["2026-11-01T05:00:00+05:30", "2026-11-01T06:00:00+05:30"]


def test_week_buckets_start_on_monday() -> None:
    run = make_run("sunday", started_at=utc("2026-11-22T22:00:00+01:00"))
    flt = {"since": "2026-11-18T10:00:00+00:00", "until": "2026-11-24T00:00:00+00:00"}
    [series] = calc.time_series([run], flt, NOW, interval="WEEK", timezone="Europe/Berlin")
    assert [(p["start"], p["runs"]) for p in series["points"]] == [
        ("2026-11-16T00:00:00+01:00", 1),
        ("2026-11-23T00:00:00+01:00", 0),
    ]


def test_month_buckets_start_on_the_first_and_until_is_exclusive() -> None:
    flt = {"since": "2026-01-15T00:00:00+00:00", "until": "2026-04-01T04:00:00+00:00"}
    [series] = calc.time_series([], flt, NOW, interval="MONTH", timezone="America/New_York")
    # 04:00 UTC on 1 April is still 31 March in New York.
    assert starts(series) == [
        "2026-01-01T00:00:00-05:00", "2026-02-01T00:00:00-05:00", "2026-03-01T00:00:00-05:00"
    ]  # fmt: skip
    december = calc.bucket_starts(
        utc("2026-12-05T00:00:00+00:00"), utc("2027-01-02T00:00:00+00:00"), "MONTH",
        ZoneInfo("UTC"),
    )  # fmt: skip
    assert [s.isoformat() for s in december] == [
        "2026-12-01T00:00:00+00:00", "2027-01-01T00:00:00+00:00"
    ]  # fmt: skip


def test_series_range_defaults_to_the_30_days_before_now() -> None:
    now = utc("2026-11-27T12:30:00+00:00")
    since, until = calc.series_range(None, now)
    assert (since, until) == (now - timedelta(days=30), now)
    [series] = calc.time_series([], None, now, interval="DAY")
    assert len(series["points"]) == 31


def test_grouped_series_keep_the_top_keys_and_put_the_rest_in_other() -> None:
    day = utc("2026-10-20T00:00:00+00:00")
    runs = [
        make_run(str(i), started_at=day + timedelta(hours=i), method=method)
        for i, method in enumerate(["b", "b", "a", "a", "c", None, "a"])
    ]
    flt = {"since": day, "until": day + timedelta(days=1)}
    result = calc.time_series(runs, flt, NOW, interval="DAY", group_by="METHOD", top=2)
    assert [(s["key"], s["points"][0]["runs"]) for s in result] == [
        ("a", 3), ("b", 2), ("other", 2)
    ]  # fmt: skip
    top_all = calc.time_series(runs, flt, NOW, interval="DAY", group_by="METHOD", top=3)
    assert [s["key"] for s in top_all] == ["a", "b", "c", "other"]
    no_missing = calc.time_series(runs[:5], flt, NOW, interval="DAY", group_by="METHOD", top=3)
    assert [s["key"] for s in no_missing] == ["a", "b", "c"]


# -- the calculator: distribution, histogram, appStats, aggregate, compare ------------------------


def test_distribution_top_other_and_missing_add_up_to_total() -> None:
    methods = ["a", "a", "a", "c", "c", "b", "b", "d", None, None]
    runs = [make_run(str(i), method=m) for i, m in enumerate(methods)]
    result = calc.distribution(runs, "METHOD", None, NOW, top=2)
    assert result == {
        "total": 10,
        "buckets": [{"key": "a", "count": 3, "share": 0.3}, {"key": "b", "count": 2, "share": 0.2}],
        "other": 3,
        "missing": 2,
    }


def test_dimension_keys_are_decimal_text_and_os_version_needs_both_parts() -> None:
    run = make_run("x", ram_mb=1536, cores=4, exit_code=100, os_type="debian", os_version="12")
    assert calc.dimension_key(run, "RAM_GB", NOW) == "2"
    assert calc.dimension_key(make_run("y", ram_mb=1535), "RAM_GB", NOW) == "1"
    assert calc.dimension_key(make_run("y", ram_mb=512), "RAM_GB", NOW) == "1"
    assert calc.dimension_key(run, "CORES", NOW) == "4"
    assert calc.dimension_key(run, "EXIT_CODE", NOW) == "100"
    assert calc.dimension_key(run, "OS_VERSION", NOW) == "debian 12"
    assert calc.dimension_key(make_run("z", os_version="12"), "OS_VERSION", NOW) is None


def test_error_histogram_counts_failed_runs_only_with_top_and_other() -> None:
    long_error = "x" * 350 + "\nsecond line"
    runs = [
        make_run("a", outcome="FAILED", exit_code=100, app="docker", error="old\ntrace"),
        make_run("b", outcome="FAILED", exit_code=100, app="plex",
                 started_at=BASE + timedelta(hours=1), error=long_error),
        make_run("c", outcome="FAILED", exit_code=100, app="plex",
                 started_at=BASE + timedelta(hours=2)),
        make_run("d", outcome="FAILED", exit_code=None, error_category="network"),
        make_run("e", outcome="FAILED", exit_code=42),
        make_run("f", outcome="ABORTED", exit_code=130),
        make_run("g", outcome="SUCCESS", exit_code=0),
    ]  # fmt: skip
    result = calc.error_histogram(runs, None, NOW, top=2)
    assert result["total"] == 5 and result["other"] == 1
    first, second = result["buckets"]
    assert first == {
        "key": "100",
        "exitCode": 100,
        "category": "dependency",
        "description": "APT: package operation failed (broken or conflicting packages)",
        "count": 3,
        "share": 0.6,
        "apps": 2,
        "sampleError": "x" * 300,
    }
    assert (second["key"], second["exitCode"], second["count"]) == ("42", 42, 1)
    assert (second["category"], second["description"]) == ("unknown", "Unknown exit code")
    everything = calc.error_histogram(runs, None, NOW, top=20)
    none = next(b for b in everything["buckets"] if b["key"] == "none")
    assert (none["exitCode"], none["category"], none["description"]) == (None, None, None)
    assert everything["other"] == 0


def test_error_histogram_by_category_and_by_app_and_code() -> None:
    runs = [
        make_run("a", outcome="FAILED", exit_code=243, error_category="runtime"),
        make_run("b", outcome="FAILED", exit_code=None, app="plex"),
    ]
    by_category = calc.error_histogram(runs, None, NOW, by="CATEGORY")
    assert [(b["key"], b["category"], b["exitCode"]) for b in by_category["buckets"]] == [
        ("none", None, None), ("runtime", "runtime", None)
    ]  # fmt: skip
    by_app = calc.error_histogram(runs, None, NOW, by="APP_EXIT_CODE")
    assert [b["key"] for b in by_app["buckets"]] == ["docker:243", "plex:none"]
    assert by_app["buckets"][0]["description"] == (
        "Node.js: JavaScript heap exhausted (out of memory) / MySQL/MariaDB: database missing"
    )


def test_app_stats_orders_rates_with_nulls_last_and_cuts_by_min_runs() -> None:
    runs = [
        *(make_run(f"d{i}", app="docker", outcome=o) for i, o in enumerate(["SUCCESS", "FAILED"])),
        *(make_run(f"p{i}", app="plex", outcome="SUCCESS") for i in range(3)),
        *(make_run(f"u{i}", app="unifi", outcome="UNKNOWN") for i in range(2)),
        make_run("a0", app="alpine", outcome="SUCCESS"),
    ]

    def apps(rows: list[dict[str, Any]]) -> list[str]:
        return [row["app"] for row in rows]

    assert apps(calc.app_stats(runs, None, NOW)) == ["plex", "docker", "unifi", "alpine"]
    assert apps(calc.app_stats(runs, None, NOW, order_by="RUNS_ASC")) == [
        "alpine", "docker", "unifi", "plex"
    ]  # fmt: skip
    assert apps(calc.app_stats(runs, None, NOW, order_by="SUCCESS_RATE_ASC")) == [
        "docker", "plex", "alpine", "unifi"
    ]  # fmt: skip
    assert apps(calc.app_stats(runs, None, NOW, order_by="SUCCESS_RATE_DESC")) == [
        "plex", "alpine", "docker", "unifi"
    ]  # fmt: skip
    assert apps(calc.app_stats(runs, None, NOW, order_by="FAILURE_RATE_DESC", first=2)) == [
        "docker", "plex"
    ]  # fmt: skip
    assert apps(calc.app_stats(runs, None, NOW, min_runs=2)) == ["plex", "docker", "unifi"]
    docker = calc.app_stats(runs, {"apps": ["Docker"]}, NOW)[0]
    assert (docker["runs"], docker["success"], docker["failed"]) == (2, 1, 1)
    assert docker["failureRate"] == calc.rate(1, 2)


def test_aggregate_rows_order_by_runs_then_keys_with_missing_last() -> None:
    runs = [
        make_run("1", method="b", arch="amd64"),
        make_run("2", method=None, arch="amd64"),
        make_run("3", method="a", arch="amd64"),
        make_run("4", method="a", arch=None),
        make_run("5", method="a", arch="amd64", outcome="FAILED"),
    ]
    result = calc.aggregate(runs, ["METHOD", "ARCH"], None, NOW, first=3)
    assert result["totalGroups"] == 4
    assert [(row["keys"], row["runs"]) for row in result["rows"]] == [
        (["a", "amd64"], 2), (["a", None], 1), (["b", "amd64"], 1)
    ]  # fmt: skip
    assert result["rows"][0]["successRate"] == calc.rate(1, 2)
    assert result["rows"][0]["bucketStart"] is None


def test_aggregate_with_a_time_bucket_does_not_zero_fill() -> None:
    runs = [
        make_run("1", started_at=utc("2026-10-20T10:00:00+00:00")),
        make_run("2", started_at=utc("2026-10-22T10:00:00+00:00")),
        make_run("3", started_at=utc("2026-10-22T23:30:00+00:00")),
    ]
    result = calc.aggregate(runs, ["KIND"], None, NOW, interval="DAY", timezone="Europe/Berlin")
    # Equal runs and keys: bucket order decides; 23:30 UTC is already the 23rd in Berlin.
    assert [(row["bucketStart"], row["runs"]) for row in result["rows"]] == [
        ("2026-10-20T00:00:00+02:00", 1),
        ("2026-10-22T00:00:00+02:00", 1),
        ("2026-10-23T00:00:00+02:00", 1),
    ]
    assert result["totalGroups"] == 3


def test_compare_windows_and_deltas_in_percentage_points() -> None:
    assert calc.previous_window(
        utc("2026-11-10T00:00:00+00:00"), utc("2026-11-20T00:00:00+00:00"), "PREVIOUS_PERIOD"
    ) == (utc("2026-10-31T00:00:00+00:00"), utc("2026-11-10T00:00:00+00:00"))
    assert calc.previous_window(
        utc("2028-02-29T00:00:00+00:00"), utc("2028-03-01T00:00:00+00:00"), "PREVIOUS_YEAR"
    ) == (utc("2027-02-28T00:00:00+00:00"), utc("2027-03-01T00:00:00+00:00"))
    since, until = utc("2026-11-10T00:00:00+00:00"), utc("2026-11-20T00:00:00+00:00")
    runs = [
        make_run("now-ok", started_at=since + timedelta(days=1)),
        make_run("now-bad", started_at=since + timedelta(days=2), outcome="FAILED"),
        make_run("then-ok", started_at=since - timedelta(days=1)),
        make_run("older", started_at=since - timedelta(days=11)),
    ]
    result = calc.compare_summary(runs, {"since": since, "until": until}, NOW)
    assert (result["current"]["runs"], result["previous"]["runs"]) == (2, 1)
    assert result["delta"]["runs"] == 1 and result["delta"]["failed"] == 1
    assert result["delta"]["successRate"] == pytest.approx(-50.0)
    [row] = calc.compare_app_stats(runs, {"since": since, "until": until}, NOW)
    assert row["delta"]["failureRate"] == pytest.approx(50.0)


def test_expected_run_fields_are_run_columns() -> None:
    assert set(expected_row(make_run("x"))) <= set(RUNS.columns.keys())
