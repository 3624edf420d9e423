"""Analytics root fields: validate arguments, call storage, shape compact results."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import datetime, timedelta

import strawberry
from graphql import GraphQLError
from sqlalchemy.ext.asyncio import AsyncConnection

from ingest.exit_codes import all_exit_codes, lookup_exit_code
from resolvers.context import Context
from resolvers.filters import to_storage_filter
from schema.analytics import (
    AggregateOrder,
    AggregateResult,
    AggregateRow,
    AppOrder,
    Dimension,
    Distribution,
    DistributionBucket,
    ErrorBucket,
    ErrorGrouping,
    ErrorHistogram,
    ExitCode,
    Interval,
    Series,
    SeriesPoint,
    outcome_fields,
    to_rate,
)
from schema.filters import RunFilter
from schema.summary import AppStats, Summary
from storage.analytics import distribution as distributions
from storage.analytics import errors, series, summary
from storage.analytics.filters import RunFilter as StorageFilter
from storage.analytics.outcomes import OutcomeCounts
from storage.analytics.timeline import bucket_starts, zone

MAX_APPS = 500
MAX_TOP = 100
MAX_SERIES = 50
MAX_DISTRIBUTION_TOP = 500
MAX_GROUP_BY = 3
MAX_AGGREGATE_ROWS = 1000
MAX_BUCKETS = 2000
DEFAULT_RANGE = timedelta(days=30)


def _check(name: str, value: int, low: int, high: int) -> None:
    if not low <= value <= high:
        raise GraphQLError(f"{name} must be between {low} and {high}, got {value}")


@asynccontextmanager
async def _read(context: Context) -> AsyncIterator[AsyncConnection]:
    async with context.database.reader.connect() as conn:
        yield conn


def _ranged(context: Context, run_filter: StorageFilter) -> StorageFilter:
    """Time buckets need a finite range: until defaults to now, since to 30 days before."""
    until = run_filter.until or context.now
    return run_filter.with_range(run_filter.since or until - DEFAULT_RANGE, until)


def _edges(run_filter: StorageFilter, interval: Interval, timezone: str) -> list[datetime]:
    try:
        tz = zone(timezone)
        assert run_filter.since is not None and run_filter.until is not None
        return bucket_starts(run_filter.since, run_filter.until, interval, tz, MAX_BUCKETS)
    except ValueError as exc:
        raise GraphQLError(str(exc)) from exc


@strawberry.type
class AnalyticsQuery:
    @strawberry.field(description="Runs by outcome over the filter, with the success rate.")
    async def summary(
        self, info: strawberry.Info[Context, None], filter: RunFilter | None = None
    ) -> Summary:
        context = info.context
        run_filter = to_storage_filter(filter)
        async with _read(context) as conn:
            counts = await summary.summarize(
                conn, run_filter=run_filter, cutoff=context.cutoff, use_rollups=context.use_rollups
            )
        return Summary.of(counts, run_filter)

    @strawberry.field(description=f"Per-app numbers; first is at most {MAX_APPS}.")
    async def app_stats(
        self,
        info: strawberry.Info[Context, None],
        filter: RunFilter | None = None,
        order_by: AppOrder = AppOrder.RUNS_DESC,
        min_runs: int = 0,
        first: int = 50,
    ) -> list[AppStats]:
        _check("first", first, 0, MAX_APPS)
        _check("minRuns", min_runs, 0, 2**31 - 1)
        context = info.context
        run_filter = to_storage_filter(filter)
        async with _read(context) as conn:
            rows = await summary.app_counts(
                conn,
                run_filter=run_filter,
                cutoff=context.cutoff,
                order_by=order_by,
                min_runs=min_runs,
                first=first,
                use_rollups=context.use_rollups,
            )
        return [AppStats.of(row.app, row.counts, run_filter) for row in rows]

    @strawberry.field(description=f"FAILED runs by error; top is at most {MAX_TOP}.")
    async def error_histogram(
        self,
        info: strawberry.Info[Context, None],
        filter: RunFilter | None = None,
        by: ErrorGrouping = ErrorGrouping.EXIT_CODE,
        top: int = 20,
    ) -> ErrorHistogram:
        _check("top", top, 1, MAX_TOP)
        context = info.context
        async with _read(context) as conn:
            data = await errors.error_histogram(
                conn,
                run_filter=to_storage_filter(filter),
                by=by,
                top=top,
                cutoff=context.cutoff,
                use_rollups=context.use_rollups,
            )
        return ErrorHistogram(
            total=data.total,
            buckets=[_error_bucket(bucket, data.total) for bucket in data.buckets],
            other=data.other,
        )

    @strawberry.field(
        description=(
            "Zero-filled counts per zone-aligned bucket over [since, until) (defaults: the "
            f"30 days up to now); at most {MAX_BUCKETS} buckets, top at most {MAX_SERIES}."
        )
    )
    async def time_series(
        self,
        info: strawberry.Info[Context, None],
        interval: Interval,
        filter: RunFilter | None = None,
        timezone: str = "UTC",
        group_by: Dimension | None = None,
        top: int = 10,
    ) -> list[Series]:
        _check("top", top, 1, MAX_SERIES)
        context = info.context
        run_filter = _ranged(context, to_storage_filter(filter))
        edges = _edges(run_filter, interval, timezone)
        async with _read(context) as conn:
            found = await series.time_series(
                conn,
                run_filter=run_filter,
                edges=edges,
                group_by=group_by,
                top=top,
                cutoff=context.cutoff,
                use_rollups=context.use_rollups,
            )
        return [Series(key=item.key, points=_points(edges, item.points)) for item in found]

    @strawberry.field(
        description=f"Runs per value of one dimension; top is at most {MAX_DISTRIBUTION_TOP}."
    )
    async def distribution(
        self,
        info: strawberry.Info[Context, None],
        dimension: Dimension,
        filter: RunFilter | None = None,
        top: int = 20,
    ) -> Distribution:
        _check("top", top, 1, MAX_DISTRIBUTION_TOP)
        context = info.context
        async with _read(context) as conn:
            data = await distributions.distribution(
                conn,
                dimension=dimension,
                run_filter=to_storage_filter(filter),
                top=top,
                cutoff=context.cutoff,
                use_rollups=context.use_rollups,
            )
        return Distribution(
            total=data.total,
            buckets=[
                DistributionBucket(key=key, count=count, share=count / data.total)
                for key, count in data.buckets
            ],
            other=data.other,
            missing=data.missing,
        )

    @strawberry.field(
        description=(
            f"Free group-by over up to {MAX_GROUP_BY} dimensions and an optional time "
            f"bucket; first is at most {MAX_AGGREGATE_ROWS}."
        )
    )
    async def aggregate(
        self,
        info: strawberry.Info[Context, None],
        group_by: list[Dimension],
        filter: RunFilter | None = None,
        interval: Interval | None = None,
        timezone: str = "UTC",
        order_by: AggregateOrder = AggregateOrder.RUNS_DESC,
        first: int = 100,
    ) -> AggregateResult:
        _check("first", first, 0, MAX_AGGREGATE_ROWS)
        if not 1 <= len(group_by) <= MAX_GROUP_BY or len(set(group_by)) != len(group_by):
            raise GraphQLError(f"groupBy takes 1 to {MAX_GROUP_BY} distinct dimensions")
        context = info.context
        run_filter = to_storage_filter(filter)
        edges = None
        if interval is not None:
            run_filter = _ranged(context, run_filter)
            edges = _edges(run_filter, interval, timezone)
        wants_durations = _selects(info, {"durationP50", "durationP95"})
        async with _read(context) as conn:
            rows, total = await series.aggregate(
                conn,
                run_filter=run_filter,
                group_by=tuple(group_by),
                edges=edges,
                order_by=order_by,
                first=first,
                cutoff=context.cutoff,
                durations=wants_durations,
                use_rollups=context.use_rollups,
            )
        return AggregateResult(
            rows=[_aggregate_row(row, edges) for row in rows], total_groups=total
        )

    @strawberry.field(description="The exit-code reference table.")
    def exit_codes(self) -> list[ExitCode]:
        return [
            ExitCode(
                code=entry.code, category=entry.category, descriptions=list(entry.descriptions)
            )
            for entry in all_exit_codes()
        ]


def _selects(info: strawberry.Info[Context, None], names: set[str]) -> bool:
    """Whether the query asks for any of these fields under this one's rows."""
    stack = list(info.selected_fields)
    while stack:
        selected = stack.pop()
        if getattr(selected, "name", None) in names:
            return True
        stack.extend(getattr(selected, "selections", []))
    return False


def _error_bucket(bucket: errors.ErrorBucket, total: int) -> ErrorBucket:
    description = category = None
    if bucket.exit_code is not None:
        entry = lookup_exit_code(bucket.exit_code)
        description, category = " / ".join(entry.descriptions), entry.category
    elif bucket.category is not None:
        category = bucket.category
    return ErrorBucket(
        key=bucket.key,
        exit_code=bucket.exit_code,
        category=category,
        description=description,
        count=bucket.count,
        share=bucket.count / total,
        apps=bucket.apps,
        sample_error=bucket.sample_error,
    )


def _points(edges: Sequence[datetime], points: Sequence[object]) -> list[SeriesPoint]:
    result = []
    for start, counts in zip(edges, points, strict=False):
        assert isinstance(counts, OutcomeCounts)
        result.append(
            SeriesPoint(
                start=start, success_rate=to_rate(counts.success_rate), **outcome_fields(counts)
            )
        )
    return result


def _aggregate_row(row: series.AggregateRow, edges: Sequence[datetime] | None) -> AggregateRow:
    counts = row.counts
    return AggregateRow(
        keys=list(row.keys),
        bucket_start=None if edges is None or row.bucket is None else edges[row.bucket],
        success_rate=to_rate(counts.success_rate),
        duration_p50=row.duration_p50,
        duration_p95=row.duration_p95,
        **outcome_fields(counts),
    )
