"""Analytics result types: compact rows of scalars, never lists of ORM objects."""

from __future__ import annotations

from datetime import datetime
from enum import Enum

import strawberry

from ingest.statuses import outcome_counts
from storage.analytics.errors import ErrorGrouping
from storage.analytics.outcomes import OutcomeCounts
from storage.analytics.outcomes import Rate as StorageRate
from storage.analytics.series import AggregateOrder
from storage.analytics.summary import AppOrder
from storage.analytics.timeline import Interval
from storage.model.dimensions import Dimension

# The storage enums are the GraphQL enums (registering them marks them in place).
strawberry.enum(Dimension, description="What runs can be grouped by.")
strawberry.enum(
    Interval, description="Time bucket: HOUR, DAY, WEEK (ISO, Monday), MONTH; zone-aligned."
)
strawberry.enum(AppOrder, description="Order of appStats rows.")
strawberry.enum(ErrorGrouping, description="Key of errorHistogram buckets.")
strawberry.enum(AggregateOrder, description="Order of aggregate rows.")

__all__ = ["AggregateOrder", "AppOrder", "Dimension", "ErrorGrouping", "Interval"]


@strawberry.enum(description="The window a comparison is made with.")
class ComparePeriod(Enum):
    PREVIOUS_PERIOD = "PREVIOUS_PERIOD"
    PREVIOUS_YEAR = "PREVIOUS_YEAR"


@strawberry.type(
    description=(
        "A proportion with its parts. value = numerator / denominator (null when the "
        "denominator is 0); low/high: 95 % Wilson score interval."
    )
)
class Rate:
    value: float | None
    numerator: int
    denominator: int
    low: float | None
    high: float | None


@strawberry.type(description="Runs by effective outcome (a base of the types that count).")
class RunOutcomeCounts:
    runs: int
    success: int
    failed: int
    aborted: int
    unknown: int
    unfinished: int
    in_progress: int


@strawberry.type(
    description="Difference to the previous window: counts are current − previous; "
    "rates are in percentage points (null when either rate is null)."
)
class SummaryDelta(RunOutcomeCounts):
    events: int
    success_rate: float | None
    failure_rate: float | None


@strawberry.type
class TimeWindow:
    since: datetime
    until: datetime


@strawberry.type
class SeriesPoint(RunOutcomeCounts):
    start: datetime = strawberry.field(description="Bucket start, with the zone's UTC offset.")
    success_rate: Rate = strawberry.field(description="success / (success + failed).")


@strawberry.type
class Series:
    key: str = strawberry.field(
        description='The group key; "other" for the rest, "all" without groupBy.'
    )
    points: list[SeriesPoint]


@strawberry.type
class DistributionBucket:
    key: str
    count: int
    share: float = strawberry.field(description="count / total.")


@strawberry.type
class Distribution:
    total: int = strawberry.field(description="All matching runs: Σ buckets + other + missing.")
    buckets: list[DistributionBucket]
    other: int = strawberry.field(description="Runs with a value beyond the top buckets.")
    missing: int = strawberry.field(description="Runs without a value for the dimension.")


@strawberry.type
class ErrorBucket:
    key: str = strawberry.field(description='Exit code, category or "app:code"; "none".')
    exit_code: int | None
    category: str | None
    description: str | None = strawberry.field(
        description="From the exit-code table; codes used by two families list both ( / )."
    )
    count: int
    share: float = strawberry.field(description="count / total FAILED runs.")
    apps: int = strawberry.field(description="Distinct apps among the bucket's runs.")
    sample_error: str | None = strawberry.field(
        description="First line (≤ 300 characters) of the latest such run's scrubbed error."
    )


@strawberry.type(description="FAILED runs (not ABORTED) by error.")
class ErrorHistogram:
    total: int
    buckets: list[ErrorBucket]
    other: int = strawberry.field(description="FAILED runs beyond the top buckets.")


@strawberry.type
class AggregateRow(RunOutcomeCounts):
    keys: list[str | None] = strawberry.field(description="One per groupBy dimension.")
    bucket_start: datetime | None
    success_rate: Rate
    duration_p50: int | None
    duration_p95: int | None


@strawberry.type
class AggregateResult:
    rows: list[AggregateRow]
    total_groups: int = strawberry.field(description="Groups before `first` was applied.")


@strawberry.type(description="An exit code of the reference table.")
class ExitCode:
    code: int
    category: str
    descriptions: list[str]


def to_rate(rate: StorageRate) -> Rate:
    low, high = rate.wilson
    return Rate(
        value=rate.value,
        numerator=rate.numerator,
        denominator=rate.denominator,
        low=low,
        high=high,
    )


def rate_delta(current: StorageRate, previous: StorageRate) -> float | None:
    """Percentage points; null when either side has no value."""
    if current.value is None or previous.value is None:
        return None
    return (current.value - previous.value) * 100


def outcome_fields(counts: OutcomeCounts) -> dict[str, int]:
    """The RunOutcomeCounts fields of ``counts``."""
    return {"runs": counts.runs, **outcome_counts(counts)}
