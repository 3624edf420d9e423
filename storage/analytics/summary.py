"""summary and appStats: outcome counts overall and per app."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum

from sqlalchemy.ext.asyncio import AsyncConnection

from storage.analytics.counting.counts import CountQuery, count_outcomes
from storage.analytics.filters import RunFilter
from storage.analytics.outcomes import OutcomeCounts, Rate
from storage.model.dimensions import Dimension


async def summarize(
    conn: AsyncConnection, *, run_filter: RunFilter, cutoff: datetime, use_rollups: bool = True
) -> OutcomeCounts:
    rows = await count_outcomes(conn, CountQuery(run_filter, events=True), cutoff, use_rollups)
    return rows[0].counts if rows else OutcomeCounts()


class AppOrder(Enum):
    RUNS_DESC = "RUNS_DESC"
    RUNS_ASC = "RUNS_ASC"
    SUCCESS_RATE_DESC = "SUCCESS_RATE_DESC"
    SUCCESS_RATE_ASC = "SUCCESS_RATE_ASC"
    FAILURE_RATE_DESC = "FAILURE_RATE_DESC"
    FAILURE_RATE_ASC = "FAILURE_RATE_ASC"


@dataclass(slots=True)
class AppCounts:
    app: str
    counts: OutcomeCounts = field(default_factory=OutcomeCounts)


async def app_counts(
    conn: AsyncConnection,
    *,
    run_filter: RunFilter,
    cutoff: datetime,
    order_by: AppOrder,
    min_runs: int,
    first: int,
    use_rollups: bool = True,
) -> list[AppCounts]:
    query = CountQuery(run_filter, group_by=(Dimension.APP,), events=True)
    kept = [
        AppCounts(row.keys[0], row.counts)
        for row in await count_outcomes(conn, query, cutoff, use_rollups)
        if row.keys[0] is not None and row.counts.runs >= min_runs
    ]
    return sort_apps(kept, order_by)[:first]


def sort_apps(apps: list[AppCounts], order_by: AppOrder) -> list[AppCounts]:
    """Ties: more runs first, then app name; a rate without a value sorts last."""
    apps = sorted(apps, key=lambda entry: (-entry.counts.runs, entry.app))
    if order_by is AppOrder.RUNS_DESC:
        return apps
    if order_by is AppOrder.RUNS_ASC:
        return sorted(apps, key=lambda entry: entry.counts.runs)
    rate_of = _success if order_by.name.startswith("SUCCESS") else _failure
    descending = order_by.name.endswith("DESC")
    rated = [entry for entry in apps if rate_of(entry).value is not None]
    unrated = [entry for entry in apps if rate_of(entry).value is None]
    rated.sort(key=lambda entry: rate_of(entry).value or 0.0, reverse=descending)
    return rated + unrated


def _success(entry: AppCounts) -> Rate:
    return entry.counts.success_rate


def _failure(entry: AppCounts) -> Rate:
    return entry.counts.failure_rate
