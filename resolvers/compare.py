"""The previous window of a filter, and its numbers, for ``compare`` fields."""

from __future__ import annotations

from datetime import datetime

from graphql import GraphQLError

from resolvers.context import Context
from schema.analytics import ComparePeriod, TimeWindow
from storage.analytics.filters import RunFilter
from storage.analytics.outcomes import OutcomeCounts
from storage.analytics.summary import AppOrder, app_counts, summarize


def previous_window(run_filter: RunFilter, period: ComparePeriod) -> TimeWindow:
    """PREVIOUS_PERIOD: the same length just before; PREVIOUS_YEAR: one calendar year
    earlier (29 February becomes the 28th)."""
    since, until = run_filter.since, run_filter.until
    if since is None or until is None:
        raise GraphQLError("compare needs filter.since and filter.until")
    if period is ComparePeriod.PREVIOUS_PERIOD:
        return TimeWindow(since=since - (until - since), until=since)
    return TimeWindow(since=_year_earlier(since), until=_year_earlier(until))


def _year_earlier(moment: datetime) -> datetime:
    try:
        return moment.replace(year=moment.year - 1)
    except ValueError:  # 29 February
        return moment.replace(year=moment.year - 1, day=28)


async def previous_summary(
    context: Context, run_filter: RunFilter, period: ComparePeriod
) -> tuple[TimeWindow, OutcomeCounts]:
    window = previous_window(run_filter, period)
    earlier = run_filter.with_range(window.since, window.until)
    async with context.database.reader.connect() as conn:
        counts = await summarize(
            conn, run_filter=earlier, cutoff=context.cutoff, use_rollups=context.use_rollups
        )
    return window, counts


async def previous_app_counts(
    context: Context, run_filter: RunFilter, period: ComparePeriod
) -> tuple[TimeWindow, dict[str, OutcomeCounts]]:
    """Every app's counts in the previous window, computed once per request."""
    window = previous_window(run_filter, period)
    earlier = run_filter.with_range(window.since, window.until)

    async def compute() -> dict[str, OutcomeCounts]:
        async with context.database.reader.connect() as conn:
            rows = await app_counts(
                conn,
                run_filter=earlier,
                cutoff=context.cutoff,
                order_by=AppOrder.RUNS_DESC,
                min_runs=0,
                first=1_000_000,
                use_rollups=context.use_rollups,
            )
        return {row.app: row.counts for row in rows}

    return window, await context.memo(("previous_apps", *earlier.cache_key()), compute)
