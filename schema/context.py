"""What the types' own field resolvers ask of the per-request context.

The context (resolvers/context.py) holds the database, the writer and the broker; the
types see only this Protocol, so schema never imports resolvers, and the context
declares that it provides it.
"""

from __future__ import annotations

from typing import Any, Protocol

from strawberry.dataloader import DataLoader

from schema.analytics import ComparePeriod, TimeWindow
from storage.analytics.filters import RunFilter
from storage.analytics.outcomes import OutcomeCounts


class SchemaContext(Protocol):
    events_loader: DataLoader[str, list[dict[str, Any]]]
    """A run's stored reports, loaded for every run of the request at once."""

    async def app_durations(self, run_filter: RunFilter) -> dict[str | None, dict[int, int]]:
        """Every app's duration percentiles ({percent: seconds}), once per request."""
        ...

    async def previous_summary(
        self, run_filter: RunFilter, period: ComparePeriod
    ) -> tuple[TimeWindow, OutcomeCounts]:
        """The window before the filter's, and the counts in it."""
        ...

    async def previous_app_counts(
        self, run_filter: RunFilter, period: ComparePeriod
    ) -> tuple[TimeWindow, dict[str, OutcomeCounts]]:
        """The window before the filter's, and every app's counts in it, once per
        request."""
        ...
