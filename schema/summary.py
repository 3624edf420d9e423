"""Summary and AppStats, each able to compare itself with a previous window."""

from __future__ import annotations

from typing import Any

import strawberry

from ingest.statuses import outcome_counts
from schema.analytics import (
    ComparePeriod,
    Rate,
    RunOutcomeCounts,
    SummaryDelta,
    TimeWindow,
    outcome_fields,
    rate_delta,
    to_rate,
)
from schema.context import SchemaContext
from storage.analytics.filters import RunFilter as StorageFilter
from storage.analytics.outcomes import OutcomeCounts


@strawberry.type(description="Runs by outcome and the success rate, over the filter.")
class Summary(RunOutcomeCounts):
    events: int = strawberry.field(description="Stored reports of these runs (events).")
    success_rate: Rate = strawberry.field(
        description="success / (success + failed); aborted, unknown and open runs are "
        "reported beside it, never in it."
    )
    failure_rate: Rate = strawberry.field(description="failed / (success + failed).")
    counts: strawberry.Private[OutcomeCounts]
    run_filter: strawberry.Private[StorageFilter]

    @classmethod
    def of(cls, counts: OutcomeCounts, run_filter: StorageFilter) -> Summary:
        return cls(**_numbers(counts), counts=counts, run_filter=run_filter)

    @strawberry.field(description="The same numbers for the previous window, and the deltas.")
    async def compare(
        self, info: strawberry.Info[SchemaContext, None], previous: ComparePeriod
    ) -> SummaryComparison:
        window, counts = await info.context.previous_summary(self.run_filter, previous)
        return SummaryComparison(
            window=window,
            previous=Summary.of(counts, self.run_filter.with_range(window.since, window.until)),
            delta=summary_delta(self.counts, counts),
        )


def _numbers(counts: OutcomeCounts) -> dict[str, Any]:
    """The public numbers of Summary and AppStats."""
    return {
        **outcome_fields(counts),
        "events": counts.events,
        "success_rate": to_rate(counts.success_rate),
        "failure_rate": to_rate(counts.failure_rate),
    }


def summary_delta(current: OutcomeCounts, previous: OutcomeCounts) -> SummaryDelta:
    before = outcome_counts(previous)
    return SummaryDelta(
        runs=current.runs - previous.runs,
        events=current.events - previous.events,
        **{field: count - before[field] for field, count in outcome_counts(current).items()},
        success_rate=rate_delta(current.success_rate, previous.success_rate),
        failure_rate=rate_delta(current.failure_rate, previous.failure_rate),
    )


@strawberry.type
class SummaryComparison:
    window: TimeWindow = strawberry.field(description="The previous window [since, until).")
    previous: Summary
    delta: SummaryDelta


@strawberry.type(description="One app's runs by outcome, rates and durations.")
class AppStats(RunOutcomeCounts):
    app: str
    events: int
    success_rate: Rate = strawberry.field(description="success / (success + failed).")
    failure_rate: Rate = strawberry.field(description="failed / (success + failed).")
    counts: strawberry.Private[OutcomeCounts]
    run_filter: strawberry.Private[StorageFilter]

    @classmethod
    def of(cls, app: str, counts: OutcomeCounts, run_filter: StorageFilter) -> AppStats:
        return cls(app=app, **_numbers(counts), counts=counts, run_filter=run_filter)

    @strawberry.field(
        description="Nearest-rank median of durationSeconds over successful runs with one."
    )
    async def duration_p50(self, info: strawberry.Info[SchemaContext, None]) -> int | None:
        return (await info.context.app_durations(self.run_filter)).get(self.app, {}).get(50)

    @strawberry.field(description="Nearest-rank 95th percentile, as durationP50.")
    async def duration_p95(self, info: strawberry.Info[SchemaContext, None]) -> int | None:
        return (await info.context.app_durations(self.run_filter)).get(self.app, {}).get(95)

    @strawberry.field(description="This app's numbers for the previous window, and the deltas.")
    async def compare(
        self, info: strawberry.Info[SchemaContext, None], previous: ComparePeriod
    ) -> AppStatsComparison:
        window, by_app = await info.context.previous_app_counts(self.run_filter, previous)
        counts = by_app.get(self.app, OutcomeCounts())
        earlier = self.run_filter.with_range(window.since, window.until)
        return AppStatsComparison(
            window=window,
            previous=AppStats.of(self.app, counts, earlier),
            delta=summary_delta(self.counts, counts),
        )


@strawberry.type
class AppStatsComparison:
    window: TimeWindow
    previous: AppStats
    delta: SummaryDelta
