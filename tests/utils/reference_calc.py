"""Every analytics number of docs/analytics.md, computed in plain Python from the runs.

Independent of the service's analytics code on purpose: it reads only a list of
``ExpectedRun`` (tests/utils/reference_data.py) and the exit-code reference table, and
returns the GraphQL response shapes as plain dicts with camelCase keys:

- ``Rate``: ``{"value", "numerator", "denominator", "low", "high"}`` (95 % Wilson);
- datetimes in responses (``start``, ``bucketStart``) are ``datetime.isoformat()`` of
  the aware bucket start in the requested zone, e.g. ``"2026-10-25T00:00:00+02:00"``;
- floats are unrounded (compare with a tolerance), counts are ints.

``flt`` is a dict shaped like the GraphQL ``RunFilter`` input (camelCase keys:
``since``, ``until``, ``apps``, ``kinds``, ``types``, ``outcomes``, ``exitCodes``,
``errorCategories``, ``osTypes``, ``osVersions``, ``pveVersions``, ``methods``,
``archs``, ``platforms``, ``repoSources``, ``repoSlugs``); ``since``/``until`` may be
aware datetimes or ISO 8601 strings. ``now`` is the moment of the query (it decides
IN_PROGRESS vs UNFINISHED); ``unfinished_after`` is a timedelta or seconds.

Key order wherever "ties by key" applies is plain ``str`` (code point) order, so
``"100" < "2"`` and ``"ProxmoxVE" < "external"``; PostgreSQL must compare with
``COLLATE "C"`` (or sort in Python) to agree.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from ingest.exit_codes import lookup_exit_code
from tests.utils.reference_data import ExpectedRun

Z = 1.959963984540054
DEFAULT_UNFINISHED_AFTER = timedelta(hours=3)
DEFAULT_SERIES_RANGE = timedelta(days=30)
SAMPLE_ERROR_CHARS = 300
DESCRIPTION_SEPARATOR = " / "
OUTCOMES = ("SUCCESS", "FAILED", "ABORTED", "UNKNOWN", "UNFINISHED", "IN_PROGRESS")
COUNT_KEYS = {
    "SUCCESS": "success",
    "FAILED": "failed",
    "ABORTED": "aborted",
    "UNKNOWN": "unknown",
    "UNFINISHED": "unfinished",
    "IN_PROGRESS": "inProgress",
}
POINT_COUNT_KEYS = ("runs", "success", "failed", "aborted", "unknown")

Filter = Mapping[str, Any] | None
Json = dict[str, Any]
Duration = timedelta | float


# -- outcome, filter, dimensions ---------------------------------------------------------


def _threshold(unfinished_after: Duration) -> timedelta:
    if isinstance(unfinished_after, timedelta):
        return unfinished_after
    return timedelta(seconds=unfinished_after)


def effective_outcome(run: ExpectedRun, now: datetime, unfinished_after: Duration) -> str:
    """Stored outcome; a run without terminal is UNFINISHED once its last event is older
    than ``unfinished_after`` at ``now`` (strictly older), else IN_PROGRESS."""
    if run.outcome != "IN_PROGRESS":
        return run.outcome
    if run.last_seen_at < now - _threshold(unfinished_after):
        return "UNFINISHED"
    return "IN_PROGRESS"


def _moment(value: datetime | str | None) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if value.tzinfo is None:
        raise ValueError("filter times must carry a UTC offset")
    return value.astimezone(UTC)


# RunFilter list key -> (run attribute or callable, compare lower-case)
_LIST_FILTERS: dict[str, tuple[str, bool]] = {
    "apps": ("app", True),
    "kinds": ("kind", False),
    "types": ("type", True),
    "exitCodes": ("exit_code", False),
    "errorCategories": ("error_category", False),
    "osTypes": ("os_type", True),
    "osVersions": ("os_version", False),
    "pveVersions": ("pve_version", False),
    "methods": ("method", True),
    "archs": ("arch", True),
    "platforms": ("platform", True),
    "repoSources": ("repo_source", False),
    "repoSlugs": ("repo_slug", False),
}
FILTER_KEYS = frozenset({"since", "until", "outcomes", *_LIST_FILTERS})


def matches(
    run: ExpectedRun, flt: Filter, now: datetime, unfinished_after: Duration = 10800
) -> bool:
    """RunFilter: since inclusive/until exclusive on the start time; lists OR within,
    AND across; an empty list does not restrict; a missing value never matches a list."""
    if not flt:
        return True
    unknown = set(flt) - FILTER_KEYS
    if unknown:
        raise ValueError(f"unknown filter keys {sorted(unknown)}")
    since, until = _moment(flt.get("since")), _moment(flt.get("until"))
    if since is not None and run.started_at < since:
        return False
    if until is not None and run.started_at >= until:
        return False
    outcomes = flt.get("outcomes")
    if outcomes and effective_outcome(run, now, unfinished_after) not in set(outcomes):
        return False
    for key, (attribute, lower) in _LIST_FILTERS.items():
        wanted = flt.get(key)
        if not wanted:
            continue
        value = getattr(run, attribute)
        if value is None:
            return False
        allowed = {item.lower() for item in wanted} if lower else set(wanted)
        if value not in allowed:
            return False
    return True


def select(
    runs: Iterable[ExpectedRun], flt: Filter, now: datetime, unfinished_after: Duration = 10800
) -> list[ExpectedRun]:
    return [run for run in runs if matches(run, flt, now, unfinished_after)]


def _text(attribute: str) -> Callable[[ExpectedRun], str | None]:
    return lambda run: getattr(run, attribute)


def _integer(attribute: str) -> Callable[[ExpectedRun], str | None]:
    def key(run: ExpectedRun) -> str | None:
        value = getattr(run, attribute)
        return None if value is None else str(value)

    return key


def _os_version(run: ExpectedRun) -> str | None:
    if run.os_type is None or run.os_version is None:
        return None
    return f"{run.os_type} {run.os_version}"


def _ram_gb(run: ExpectedRun) -> str | None:
    return None if run.ram_mb is None else str((run.ram_mb + 512) // 1024)


_STATIC_DIMENSIONS: dict[str, Callable[[ExpectedRun], str | None]] = {
    "APP": _text("app"),
    "KIND": _text("kind"),
    "TYPE": _text("type"),
    "EXIT_CODE": _integer("exit_code"),
    "ERROR_CATEGORY": _text("error_category"),
    "OS_TYPE": _text("os_type"),
    "OS_VERSION": _os_version,
    "PVE_VERSION": _text("pve_version"),
    "METHOD": _text("method"),
    "ARCH": _text("arch"),
    "PLATFORM": _text("platform"),
    "CPU_VENDOR": _text("cpu_vendor"),
    "GPU_VENDOR": _text("gpu_vendor"),
    "GPU_PASSTHROUGH": _text("gpu_passthrough"),
    "CT_TYPE": _integer("ct_type"),
    "REPO_SOURCE": _text("repo_source"),
    "REPO_SLUG": _text("repo_slug"),
    "CORES": _integer("cores"),
    "RAM_GB": _ram_gb,
    "DISK_GB": _integer("disk_gb"),
}
DIMENSIONS = (*_STATIC_DIMENSIONS, "OUTCOME")


def dimension_key(
    run: ExpectedRun, dimension: str, now: datetime, unfinished_after: Duration = 10800
) -> str | None:
    """The run's key for ``dimension`` (docs/analytics.md "Dimensions"); None = missing."""
    if dimension == "OUTCOME":
        return effective_outcome(run, now, unfinished_after)
    return _STATIC_DIMENSIONS[dimension](run)


# -- rates, percentiles, counts ----------------------------------------------------------


def rate(numerator: int, denominator: int) -> Json:
    """A Rate with its 95 % Wilson score interval (value/low/high null when n = 0)."""
    if denominator == 0:
        return {
            "value": None,
            "numerator": numerator,
            "denominator": 0,
            "low": None,
            "high": None,
        }
    n = denominator
    p = numerator / n
    z2 = Z * Z
    scale = 1 + z2 / n
    centre = (p + z2 / (2 * n)) / scale
    half = Z * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / scale
    return {
        "value": p,
        "numerator": numerator,
        "denominator": n,
        "low": max(0.0, centre - half),
        "high": min(1.0, centre + half),
    }


def nearest_rank(values: Sequence[int], percent: int) -> int | None:
    """Value at rank ceil(percent/100 × n) of the sorted values (integer arithmetic)."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, -(-percent * len(ordered) // 100))
    return ordered[rank - 1]


def _outcome_counts(runs: Sequence[ExpectedRun], now: datetime, ua: Duration) -> Json:
    counts = dict.fromkeys(COUNT_KEYS.values(), 0)
    for run in runs:
        counts[COUNT_KEYS[effective_outcome(run, now, ua)]] += 1
    return {"runs": len(runs), **counts}


def _durations(runs: Sequence[ExpectedRun]) -> list[int]:
    return [
        run.duration_seconds
        for run in runs
        if run.outcome == "SUCCESS" and run.duration_seconds is not None
    ]


def _group_numbers(runs: Sequence[ExpectedRun], now: datetime, ua: Duration) -> Json:
    counts = _outcome_counts(runs, now, ua)
    durations = _durations(runs)
    return {
        **counts,
        "successRate": rate(counts["success"], counts["success"] + counts["failed"]),
        "failureRate": rate(counts["failed"], counts["success"] + counts["failed"]),
        "durationP50": nearest_rank(durations, 50),
        "durationP95": nearest_rank(durations, 95),
    }


# -- root fields ---------------------------------------------------------------------------


def summary(
    runs: Iterable[ExpectedRun],
    flt: Filter,
    now: datetime,
    unfinished_after: Duration = DEFAULT_UNFINISHED_AFTER,
) -> Json:
    """``summary``: runs, events (stored reports), counts by effective outcome, successRate."""
    chosen = select(runs, flt, now, unfinished_after)
    counts = _outcome_counts(chosen, now, unfinished_after)
    return {
        "runs": counts["runs"],
        "events": sum(run.event_count for run in chosen),
        **{key: counts[key] for key in COUNT_KEYS.values()},
        "successRate": rate(counts["success"], counts["success"] + counts["failed"]),
    }


APP_ORDERS = (
    "RUNS_DESC",
    "RUNS_ASC",
    "SUCCESS_RATE_DESC",
    "SUCCESS_RATE_ASC",
    "FAILURE_RATE_DESC",
    "FAILURE_RATE_ASC",
)


def _app_order_key(order_by: str) -> Callable[[Json], tuple[Any, ...]]:
    if order_by not in APP_ORDERS:
        raise ValueError(f"unknown order {order_by}")
    field, _, direction = order_by.rpartition("_")
    sign = -1 if direction == "DESC" else 1

    def key(row: Json) -> tuple[Any, ...]:
        tie = (-row["runs"], row["app"])
        if field == "RUNS":
            return (sign * row["runs"], *tie)
        value = row["successRate" if field == "SUCCESS_RATE" else "failureRate"]["value"]
        return (value is None, 0.0 if value is None else sign * value, *tie)

    return key


def app_stats(
    runs: Iterable[ExpectedRun],
    flt: Filter,
    now: datetime,
    unfinished_after: Duration = DEFAULT_UNFINISHED_AFTER,
    order_by: str = "RUNS_DESC",
    min_runs: int = 0,
    first: int = 50,
) -> list[Json]:
    """``appStats``: one row per app with runs ≥ min_runs, ordered by ``order_by`` (ties:
    runs desc, app asc; null rates last in both directions), then the first ``first``.

    Row keys: app, runs, success, failed, aborted, unknown, unfinished, inProgress,
    successRate, failureRate, durationP50, durationP95.
    """
    by_app: dict[str, list[ExpectedRun]] = defaultdict(list)
    for run in select(runs, flt, now, unfinished_after):
        if run.app is not None:
            by_app[run.app].append(run)
    rows = [
        {"app": app, **_group_numbers(group, now, unfinished_after)}
        for app, group in by_app.items()
        if len(group) >= min_runs
    ]
    rows.sort(key=_app_order_key(order_by))
    return rows[:first]


def _histogram_key(run: ExpectedRun, by: str) -> str:
    code = "none" if run.exit_code is None else str(run.exit_code)
    if by == "EXIT_CODE":
        return code
    if by == "CATEGORY":
        return run.error_category or "none"
    if by == "APP_EXIT_CODE":
        return f"{run.app}:{code}"
    raise ValueError(f"unknown grouping {by}")


def first_line(error: str) -> str:
    """The text before the first ``\\n``, cut to 300 characters."""
    return error.split("\n", 1)[0][:SAMPLE_ERROR_CHARS]


def _sample_error(runs: Sequence[ExpectedRun]) -> str | None:
    with_text = [run for run in runs if run.error is not None]
    if not with_text:
        return None
    latest = max(with_text, key=lambda run: (run.started_at, run.run_id))
    assert latest.error is not None
    return first_line(latest.error)


def _code_reference(code: int | None) -> tuple[str | None, str | None]:
    if code is None:
        return None, None
    entry = lookup_exit_code(code)
    return entry.category, DESCRIPTION_SEPARATOR.join(entry.descriptions)


def error_histogram(
    runs: Iterable[ExpectedRun],
    flt: Filter,
    now: datetime,
    unfinished_after: Duration = DEFAULT_UNFINISHED_AFTER,
    by: str = "EXIT_CODE",
    top: int = 20,
) -> Json:
    """``errorHistogram`` over matching runs whose effective outcome is FAILED.

    Buckets: count desc, key asc; the first ``top`` kept, ``other`` = total − their sum.
    Each bucket: key; exitCode (the code for EXIT_CODE/APP_EXIT_CODE, null for "none"
    and for CATEGORY); category and description from the reference table for the code
    (description = the code's descriptions joined by " / "; both null for "none"); for
    CATEGORY grouping category = the run's category (null for "none") and description
    null; count; share = count/total; apps = number of distinct apps; sampleError =
    first line (≤ 300 chars) of the error of the bucket's latest run (start time, then
    id) that has an error, else null.
    """
    failed = [
        run
        for run in select(runs, flt, now, unfinished_after)
        if effective_outcome(run, now, unfinished_after) == "FAILED"
    ]
    groups: dict[str, list[ExpectedRun]] = defaultdict(list)
    for run in failed:
        groups[_histogram_key(run, by)].append(run)
    total = len(failed)
    ranked = sorted(groups.items(), key=lambda item: (-len(item[1]), item[0]))[:top]
    buckets: list[Json] = []
    for key, group in ranked:
        code = group[0].exit_code if by != "CATEGORY" else None
        if by == "CATEGORY":
            category, description = (None if key == "none" else key), None
        else:
            category, description = _code_reference(code)
        buckets.append(
            {
                "key": key,
                "exitCode": code,
                "category": category,
                "description": description,
                "count": len(group),
                "share": len(group) / total,
                "apps": len({run.app for run in group if run.app is not None}),
                "sampleError": _sample_error(group),
            }
        )
    return {
        "total": total,
        "buckets": buckets,
        "other": total - sum(len(group) for _, group in ranked),
    }


# -- time buckets -------------------------------------------------------------------------

INTERVALS = ("HOUR", "DAY", "WEEK", "MONTH")


def _local_midnight(day: date, tz: ZoneInfo) -> datetime:
    """The first instant of ``day`` in ``tz``: a midnight skipped by a DST gap becomes the
    end of the gap (America/Santiago 2026-09-06 starts at 01:00-03:00), a repeated
    midnight its first occurrence; normalised so ``isoformat`` shows the real offset."""
    return datetime.combine(day, time(0), tzinfo=tz).astimezone(UTC).astimezone(tz)


def bucket_start(moment: datetime, interval: str, tz: ZoneInfo) -> datetime:
    """Start of the ``interval`` bucket holding ``moment``, aware in ``tz``:
    HOUR the local hour, DAY local midnight, WEEK Monday 00:00, MONTH the 1st 00:00."""
    local = moment.astimezone(tz)
    if interval == "HOUR":
        return local.replace(minute=0, second=0, microsecond=0)
    day = local.date()
    if interval == "DAY":
        return _local_midnight(day, tz)
    if interval == "WEEK":
        return _local_midnight(day - timedelta(days=day.weekday()), tz)
    if interval == "MONTH":
        return _local_midnight(day.replace(day=1), tz)
    raise ValueError(f"unknown interval {interval}")


def next_bucket(start: datetime, interval: str, tz: ZoneInfo) -> datetime:
    if interval == "HOUR":
        return bucket_start(start.astimezone(UTC) + timedelta(hours=1), interval, tz)
    day = start.date()
    if interval == "DAY":
        return _local_midnight(day + timedelta(days=1), tz)
    if interval == "WEEK":
        return _local_midnight(day + timedelta(days=7), tz)
    if interval == "MONTH":
        following = date(day.year + day.month // 12, day.month % 12 + 1, 1)
        return _local_midnight(following, tz)
    raise ValueError(f"unknown interval {interval}")


def bucket_starts(since: datetime, until: datetime, interval: str, tz: ZoneInfo) -> list[datetime]:
    """Every bucket from the one holding ``since`` to the one holding ``until`` − 1 µs."""
    last = bucket_start(until - timedelta(microseconds=1), interval, tz)
    starts = []
    current = bucket_start(since, interval, tz)
    while current.astimezone(UTC) <= last.astimezone(UTC):
        starts.append(current)
        current = next_bucket(current, interval, tz)
    return starts


def _utc_key(moment: datetime) -> datetime:
    return moment.astimezone(UTC)


def _point(start: datetime, runs: Sequence[ExpectedRun], now: datetime, ua: Duration) -> Json:
    counts = _outcome_counts(runs, now, ua)
    return {
        "start": start.isoformat(),
        **{key: counts[key] for key in POINT_COUNT_KEYS},
        "successRate": rate(counts["success"], counts["success"] + counts["failed"]),
    }


def _top_keys(keys: Iterable[str | None], top: int) -> list[str]:
    counts: dict[str, int] = defaultdict(int)
    for key in keys:
        if key is not None:
            counts[key] += 1
    return [key for key, _ in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:top]]


def series_range(flt: Filter, now: datetime) -> tuple[datetime, datetime]:
    """timeSeries' [since, until): until defaults to now, since to until − 30 days."""
    flt = flt or {}
    until = _moment(flt.get("until")) or now.astimezone(UTC)
    since = _moment(flt.get("since")) or until - DEFAULT_SERIES_RANGE
    return since, until


def time_series(
    runs: Iterable[ExpectedRun],
    flt: Filter,
    now: datetime,
    unfinished_after: Duration = DEFAULT_UNFINISHED_AFTER,
    interval: str = "DAY",
    timezone: str = "UTC",
    group_by: str | None = None,
    top: int = 10,
) -> list[Json]:
    """``timeSeries``: zero-filled buckets from the one holding ``since`` to the one
    holding the instant before ``until``, each counting matching runs started in it.

    Without ``group_by`` one series ``"all"``; with it one series per top key (by runs
    over the whole range, ties by key) in that order, then ``"other"`` (other values and
    missing) when any run is left. Point keys: start, runs, success, failed, aborted,
    unknown, successRate.
    """
    tz = ZoneInfo(timezone)
    since, until = series_range(flt, now)
    chosen = select(runs, {**(flt or {}), "since": since, "until": until}, now, unfinished_after)
    starts = bucket_starts(since, until, interval, tz)
    if group_by is None:
        series_of: dict[str, list[ExpectedRun]] = {"all": chosen}
    else:
        keyed = [(dimension_key(run, group_by, now, unfinished_after), run) for run in chosen]
        keys = _top_keys((key for key, _ in keyed), top)
        wanted = set(keys)
        series_of = {key: [] for key in keys}
        rest = [run for key, run in keyed if key not in wanted]
        for key, run in keyed:
            if key in wanted:
                series_of[key].append(run)
        if rest:
            series_of["other"] = rest
    result = []
    for key, members in series_of.items():
        by_bucket: dict[datetime, list[ExpectedRun]] = defaultdict(list)
        for run in members:
            by_bucket[_utc_key(bucket_start(run.started_at, interval, tz))].append(run)
        points = [
            _point(start, by_bucket.get(_utc_key(start), []), now, unfinished_after)
            for start in starts
        ]
        result.append({"key": key, "points": points})
    return result


def distribution(
    runs: Iterable[ExpectedRun],
    dimension: str,
    flt: Filter,
    now: datetime,
    unfinished_after: Duration = DEFAULT_UNFINISHED_AFTER,
    top: int = 20,
) -> Json:
    """``distribution``: total = all matching runs; buckets = top keys by count (ties by
    key) with share = count/total; other = runs with a key beyond ``top``; missing =
    runs without a key; total = Σ buckets + other + missing."""
    chosen = select(runs, flt, now, unfinished_after)
    counts: dict[str, int] = defaultdict(int)
    missing = 0
    for run in chosen:
        key = dimension_key(run, dimension, now, unfinished_after)
        if key is None:
            missing += 1
        else:
            counts[key] += 1
    total = len(chosen)
    ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:top]
    buckets = [{"key": key, "count": count, "share": count / total} for key, count in ranked]
    return {
        "total": total,
        "buckets": buckets,
        "other": total - missing - sum(count for _, count in ranked),
        "missing": missing,
    }


def _none_last(keys: Sequence[str | None]) -> tuple[tuple[bool, str], ...]:
    return tuple((key is None, key or "") for key in keys)


def aggregate(
    runs: Iterable[ExpectedRun],
    group_by: Sequence[str],
    flt: Filter,
    now: datetime,
    unfinished_after: Duration = DEFAULT_UNFINISHED_AFTER,
    interval: str | None = None,
    timezone: str = "UTC",
    first: int = 100,
) -> Json:
    """``aggregate``: one row per combination of ``group_by`` keys (and time bucket when
    ``interval`` is given) that has runs; no zero-filling.

    Row keys: keys (list in ``group_by`` order, None for missing), bucketStart (ISO 8601
    in ``timezone``, None without interval), runs, success, failed, aborted, unknown,
    unfinished, inProgress, successRate, durationP50, durationP95.

    Row order (the service must match): runs descending, then keys ascending element by
    element with None after every value, then bucketStart ascending (by instant).
    ``totalGroups`` counts rows before ``first`` is applied.
    """
    if len(group_by) > 3:
        raise ValueError("at most 3 dimensions")
    tz = ZoneInfo(timezone)
    groups: dict[tuple[tuple[str | None, ...], datetime | None], list[ExpectedRun]]
    groups = defaultdict(list)
    for run in select(runs, flt, now, unfinished_after):
        keys = tuple(dimension_key(run, dim, now, unfinished_after) for dim in group_by)
        bucket = None if interval is None else bucket_start(run.started_at, interval, tz)
        groups[keys, bucket].append(run)
    rows = []
    for (keys, bucket), members in groups.items():
        numbers = _group_numbers(members, now, unfinished_after)
        del numbers["failureRate"]
        rows.append(
            {
                "keys": list(keys),
                "bucketStart": None if bucket is None else bucket.isoformat(),
                **numbers,
                "_order": (
                    -len(members),
                    _none_last(keys),
                    None if bucket is None else bucket.astimezone(UTC),
                ),
            }
        )
    rows.sort(key=lambda row: row["_order"])
    for row in rows:
        del row["_order"]
    return {"rows": rows[:first], "totalGroups": len(rows)}


# -- compare -----------------------------------------------------------------------------


def _year_earlier(moment: datetime) -> datetime:
    try:
        return moment.replace(year=moment.year - 1)
    except ValueError:  # Feb 29 -> Feb 28
        return moment.replace(year=moment.year - 1, day=28)


def previous_window(since: datetime, until: datetime, previous: str) -> tuple[datetime, datetime]:
    """PREVIOUS_PERIOD: [since − (until − since), since); PREVIOUS_YEAR: both ends one
    calendar year earlier (in UTC), Feb 29 → Feb 28."""
    if previous == "PREVIOUS_PERIOD":
        return since - (until - since), since
    if previous == "PREVIOUS_YEAR":
        return _year_earlier(since), _year_earlier(until)
    raise ValueError(f"unknown comparison {previous}")


def _windows(flt: Filter, previous: str) -> tuple[Json, Json]:
    flt = dict(flt or {})
    since, until = _moment(flt.get("since")), _moment(flt.get("until"))
    if since is None or until is None:
        raise ValueError("compare needs since and until")
    before_since, before_until = previous_window(since, until, previous)
    return (
        {**flt, "since": since, "until": until},
        {**flt, "since": before_since, "until": before_until},
    )


def _points_delta(current: Json, before: Json) -> float | None:
    if current["value"] is None or before["value"] is None:
        return None
    return float(current["value"] - before["value"]) * 100


def _optional_delta(current: int | None, before: int | None) -> int | None:
    return None if current is None or before is None else current - before


SUMMARY_COUNTS = ("runs", "events", *COUNT_KEYS.values())


def compare_summary(
    runs: Iterable[ExpectedRun],
    flt: Filter,
    now: datetime,
    unfinished_after: Duration = DEFAULT_UNFINISHED_AFTER,
    previous: str = "PREVIOUS_PERIOD",
) -> Json:
    """``{"current": summary, "previous": summary, "delta": {...}}``; delta counts are
    current − previous, ``delta.successRate`` is in percentage points (null when either
    rate is null)."""
    runs = list(runs)
    now_filter, before_filter = _windows(flt, previous)
    current = summary(runs, now_filter, now, unfinished_after)
    before = summary(runs, before_filter, now, unfinished_after)
    delta: Json = {key: current[key] - before[key] for key in SUMMARY_COUNTS}
    delta["successRate"] = _points_delta(current["successRate"], before["successRate"])
    return {"current": current, "previous": before, "delta": delta}


APP_COUNTS = ("runs", *COUNT_KEYS.values())


def compare_app_stats(
    runs: Iterable[ExpectedRun],
    flt: Filter,
    now: datetime,
    unfinished_after: Duration = DEFAULT_UNFINISHED_AFTER,
    previous: str = "PREVIOUS_PERIOD",
    order_by: str = "RUNS_DESC",
    min_runs: int = 0,
    first: int = 50,
) -> list[Json]:
    """Rows ``{"app", "current", "previous", "delta"}`` for the apps of the current
    window's appStats (same order and cut); ``previous`` is that app's appStats row in the
    previous window, or null when it had no runs there (then every delta is null). Delta
    counts are current − previous; successRate/failureRate deltas in percentage points;
    durationP50/P95 deltas in seconds (null when either side is null)."""
    runs = list(runs)
    now_filter, before_filter = _windows(flt, previous)
    current_rows = app_stats(runs, now_filter, now, unfinished_after, order_by, min_runs, first)
    before_rows = {
        row["app"]: row
        for row in app_stats(runs, before_filter, now, unfinished_after, min_runs=0, first=10**9)
    }
    result = []
    for row in current_rows:
        before = before_rows.get(row["app"])
        delta: Json | None = None
        if before is not None:
            delta = {key: row[key] - before[key] for key in APP_COUNTS}
            for key in ("successRate", "failureRate"):
                delta[key] = _points_delta(row[key], before[key])
            for key in ("durationP50", "durationP95"):
                delta[key] = _optional_delta(row[key], before[key])
        result.append({"app": row["app"], "current": row, "previous": before, "delta": delta})
    return result
