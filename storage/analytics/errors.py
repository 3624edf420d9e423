"""errorHistogram: FAILED runs by exit code, category, or app and exit code."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum

from sqlalchemy import Select, literal, select, union_all
from sqlalchemy.ext.asyncio import AsyncConnection

from storage.analytics.counts import CountQuery, count_runs
from storage.analytics.filters import RunFilter, run_conditions
from storage.dimensions import Dimension
from storage.tables import RUNS

NONE_KEY = "none"
SAMPLE_CHARS = 300


class ErrorGrouping(Enum):
    EXIT_CODE = "EXIT_CODE"
    CATEGORY = "CATEGORY"
    APP_EXIT_CODE = "APP_EXIT_CODE"


@dataclass(slots=True)
class ErrorBucket:
    key: str
    exit_code: int | None
    category: str | None
    app: str | None
    # The runs-table columns and values this bucket stands for (None: no value).
    match: dict[str, object]
    count: int = 0
    apps: set[str] = field(default_factory=set)
    sample_error: str | None = None


@dataclass(slots=True)
class ErrorHistogramData:
    total: int
    buckets: list[ErrorBucket]
    other: int


async def error_histogram(
    conn: AsyncConnection,
    *,
    run_filter: RunFilter,
    by: ErrorGrouping,
    top: int,
    cutoff: datetime,
    use_rollups: bool = True,
) -> ErrorHistogramData:
    group_by = (
        (Dimension.ERROR_CATEGORY, Dimension.APP)
        if by is ErrorGrouping.CATEGORY
        else (Dimension.EXIT_CODE, Dimension.APP)
    )
    query = CountQuery(run_filter, group_by=group_by, failed_only=True)
    buckets: dict[str, ErrorBucket] = {}
    total = 0
    for row in await count_runs(conn, query, cutoff, use_rollups):
        value, app = row.keys
        key = _key(by, value, app)
        bucket = buckets.get(key) or buckets.setdefault(key, _new_bucket(by, value, app))
        bucket.count += row.runs
        total += row.runs
        if app is not None:
            bucket.apps.add(app)
    ranked = sorted(buckets.values(), key=lambda b: (-b.count, b.key))[:top]
    await _add_sample_errors(conn, run_filter, ranked, cutoff)
    return ErrorHistogramData(total, ranked, total - sum(b.count for b in ranked))


def _key(by: ErrorGrouping, value: str | None, app: str | None) -> str:
    if by is ErrorGrouping.APP_EXIT_CODE:
        return f"{app or NONE_KEY}:{value or NONE_KEY}"
    return value or NONE_KEY


def _new_bucket(by: ErrorGrouping, value: str | None, app: str | None) -> ErrorBucket:
    key = _key(by, value, app)
    if by is ErrorGrouping.CATEGORY:
        return ErrorBucket(key, None, value, None, match={"error_category": value})
    code = None if value is None else int(value)
    if by is ErrorGrouping.EXIT_CODE:
        return ErrorBucket(key, code, None, None, match={"exit_code": code})
    return ErrorBucket(key, code, None, app, match={"app": app, "exit_code": code})


async def _add_sample_errors(
    conn: AsyncConnection, run_filter: RunFilter, buckets: list[ErrorBucket], cutoff: datetime
) -> None:
    """Each bucket's sample: the first line (up to the first newline, ≤ 300 characters)
    of the error of its latest run that has one. One statement for all buckets, each
    part an index probe, so a histogram costs one round trip, not one per bucket."""
    if not buckets:
        return
    parts = [
        _latest_error(run_filter, bucket, cutoff, index) for index, bucket in enumerate(buckets)
    ]
    statement = union_all(*parts) if len(parts) > 1 else parts[0]
    for index, error in await conn.execute(statement):
        buckets[int(index)].sample_error = str(error).split("\n", 1)[0][:SAMPLE_CHARS]


def _latest_error(
    run_filter: RunFilter, bucket: ErrorBucket, cutoff: datetime, index: int
) -> Select[int, str]:
    conditions = [
        *run_conditions(run_filter, cutoff),
        RUNS.c.outcome == "FAILED",
        RUNS.c.error.is_not(None),
    ]
    for name, value in bucket.match.items():
        column = RUNS.c[name]
        conditions.append(column.is_(None) if value is None else column == value)
    latest = (
        select(literal(index).label("bucket"), RUNS.c.error)
        .where(*conditions)
        .order_by(RUNS.c.started_at.desc(), RUNS.c.id.desc())
        .limit(1)
        .subquery()
    )
    return select(latest.c.bucket, latest.c.error)
