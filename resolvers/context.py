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
from service.settings import Settings
from storage.analytics.durations import duration_percentiles
from storage.analytics.filters import RunFilter
from storage.engine import Database
from storage.model.dimensions import Dimension
from storage.reads.runs import events_by_run
from storage.writer.group_commit import IngestWriter

T = TypeVar("T")


@dataclass
class Context:
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
