"""Per-request GraphQL context: app state plus request-scoped loaders and memos."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from aiohttp import web
from strawberry.dataloader import DataLoader

from live.broker import RunBroker
from resolvers.compare import previous_window
from schema.analytics import ComparePeriod, TimeWindow
from schema.context import SchemaContext
from service.settings import Settings
from storage.analytics.durations import duration_percentiles
from storage.analytics.filters import RunFilter
from storage.analytics.outcomes import OutcomeCounts
from storage.analytics.summary import AppOrder, app_counts, summarize
from storage.engine import Database
from storage.model.dimensions import Dimension
from storage.reads.runs import events_by_run
from storage.writer.group_commit import IngestWriter

T = TypeVar("T")


@dataclass
class Context(SchemaContext):
    """Subclassing the Protocol has mypy check that the types get what they ask for."""

    request: web.Request | None
    settings: Settings
    database: Database
    writer: IngestWriter
    # Live updates (runChanged); None where no server runs (schema-level tests).
    broker: RunBroker | None = None
    now: datetime = field(default_factory=lambda: datetime.now(UTC))
    events_loader: DataLoader[str, list[dict[str, Any]]] = field(init=False)
    _memo: dict[tuple[object, ...], asyncio.Future[Any]] = field(init=False, default_factory=dict)

    def __post_init__(self) -> None:
        async def load(run_ids: Sequence[str]) -> list[list[dict[str, Any]]]:
            return await events_by_run(self.database.reader, run_ids=run_ids)

        self.events_loader = DataLoader(load_fn=load)

    @property
    def unfinished_after(self) -> timedelta:
        return timedelta(seconds=self.settings.unfinished_after_seconds)

    @property
    def cutoff(self) -> datetime:
        """Open runs silent since before this are UNFINISHED, for this whole request."""
        return self.now - self.unfinished_after

    @property
    def use_rollups(self) -> bool:
        return self.settings.analytics_use_rollups

    async def memo(self, key: tuple[object, ...], compute: Callable[[], Awaitable[T]]) -> T:
        """Compute once per request, even when sibling fields ask at the same time."""
        if key not in self._memo:
            self._memo[key] = asyncio.ensure_future(compute())
        result: T = await self._memo[key]
        return result

    async def app_durations(self, run_filter: RunFilter) -> dict[str | None, dict[int, int]]:
        async def compute() -> dict[str | None, dict[int, int]]:
            async with self.database.reader.connect() as conn:
                found = await duration_percentiles(
                    conn, run_filter=run_filter, group_by=(Dimension.APP,), cutoff=self.cutoff
                )
            return {keys[0]: values for (keys, _), values in found.items()}

        return await self.memo(("app_durations", *run_filter.cache_key()), compute)

    async def previous_summary(
        self, run_filter: RunFilter, period: ComparePeriod
    ) -> tuple[TimeWindow, OutcomeCounts]:
        window = previous_window(run_filter, period)
        earlier = run_filter.with_range(window.since, window.until)
        async with self.database.reader.connect() as conn:
            counts = await summarize(
                conn, run_filter=earlier, cutoff=self.cutoff, use_rollups=self.use_rollups
            )
        return window, counts

    async def previous_app_counts(
        self, run_filter: RunFilter, period: ComparePeriod
    ) -> tuple[TimeWindow, dict[str, OutcomeCounts]]:
        window = previous_window(run_filter, period)
        earlier = run_filter.with_range(window.since, window.until)

        async def compute() -> dict[str, OutcomeCounts]:
            async with self.database.reader.connect() as conn:
                rows = await app_counts(
                    conn,
                    run_filter=earlier,
                    cutoff=self.cutoff,
                    order_by=AppOrder.RUNS_DESC,
                    min_runs=0,
                    first=1_000_000,
                    use_rollups=self.use_rollups,
                )
            return {row.app: row.counts for row in rows}

        return window, await self.memo(("previous_apps", *earlier.cache_key()), compute)
