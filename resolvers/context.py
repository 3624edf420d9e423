"""Per-request GraphQL context: app state plus request-scoped DataLoaders."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from aiohttp import web
from strawberry.dataloader import DataLoader

from service.settings import Settings
from storage.engine import Database
from storage.run_queries import events_by_run
from storage.writer import IngestWriter


@dataclass
class Context:
    request: web.Request | None
    settings: Settings
    database: Database
    writer: IngestWriter
    now: datetime = field(default_factory=lambda: datetime.now(UTC))
    events_loader: DataLoader[str, list[dict[str, Any]]] = field(init=False)

    def __post_init__(self) -> None:
        async def load(run_ids: Sequence[str]) -> list[list[dict[str, Any]]]:
            return await events_by_run(self.database.reader, run_ids=run_ids)

        self.events_loader = DataLoader(load_fn=load)

    @property
    def unfinished_after(self) -> timedelta:
        return timedelta(seconds=self.settings.unfinished_after_seconds)
