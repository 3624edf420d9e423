"""errorHistogram: FAILED runs by exit code, category, or app and exit code."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from functools import lru_cache
from typing import Any

from sqlalchemy import Select, bindparam, literal_column, select, union_all
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.selectable import CompoundSelect

from storage.analytics import error_codes
from storage.analytics.counting.bound_filter import FilterShape, filter_params
from storage.analytics.counting.counts import CountQuery, count_runs
from storage.analytics.filters import RunFilter
from storage.model.dimensions import Dimension
from storage.model.tables import RUNS

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
    apps: int = 0  # apps with failed runs in the bucket
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
    value = Dimension.ERROR_CATEGORY if by is ErrorGrouping.CATEGORY else Dimension.EXIT_CODE
    per_app = by is ErrorGrouping.APP_EXIT_CODE
    query = CountQuery(
        run_filter,
        group_by=(value, Dimension.APP),
        failed_only=True,
        distinct=None if per_app else Dimension.APP,
    )
    if use_rollups and not per_app and error_codes.answers(run_filter, value):
        rows = await error_codes.failed_by_code(
            conn, run_filter=run_filter, by=value, cutoff=cutoff
        )
    else:
        rows = await count_runs(conn, query, cutoff, use_rollups)
    buckets: dict[str, ErrorBucket] = {}
    total = 0
    for row in rows:
        code_or_category, app = (row.keys[0], row.keys[1]) if per_app else (row.keys[0], None)
        key = _key(by, code_or_category, app)
        bucket = buckets.get(key) or buckets.setdefault(key, _new_bucket(by, code_or_category, app))
        bucket.count += row.runs
        bucket.apps = int(app is not None) if per_app else bucket.apps + row.distinct
        total += row.runs
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
    matches = tuple(
        tuple((name, value is None) for name, value in bucket.match.items()) for bucket in buckets
    )
    params = filter_params(run_filter, cutoff)
    for index, bucket in enumerate(buckets):
        for name, value in bucket.match.items():
            if value is not None:
                params[f"m{index}_{name}"] = value
    statement = _samples_statement(FilterShape.of(run_filter), matches)
    for row in await conn.execute(statement, params):  # at most one a bucket: by name
        buckets[int(row.bucket)].sample_error = str(row.error).split("\n", 1)[0][:SAMPLE_CHARS]


@lru_cache(maxsize=256)
def _samples_statement(
    shape: FilterShape, matches: tuple[tuple[tuple[str, bool], ...], ...]
) -> CompoundSelect[Any] | Select[Any]:
    """Built once per filter shape and bucket matches (column, value missing?)."""
    parts = [_latest_error(shape, match, index) for index, match in enumerate(matches)]
    return union_all(*parts) if len(parts) > 1 else parts[0]


def _latest_error(
    shape: FilterShape, match: tuple[tuple[str, bool], ...], index: int
) -> Select[Any]:
    conditions = [*shape.run_conditions(), RUNS.c.outcome == "FAILED", RUNS.c.error.is_not(None)]
    for name, missing in match:
        column = RUNS.c[name]
        conditions.append(column.is_(None) if missing else column == bindparam(f"m{index}_{name}"))
    latest = (
        select(literal_column(str(index)).label("bucket"), RUNS.c.error)
        .where(*conditions)
        .order_by(RUNS.c.started_at.desc(), RUNS.c.id.desc())
        .limit(1)
        .subquery()
    )
    return select(latest.c.bucket, latest.c.error)
