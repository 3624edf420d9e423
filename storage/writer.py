"""Group commit: requests queue their reports, one task commits them in batches.

Each request is answered only after the transaction holding its report commits, so
a 2xx always means stored. The queue is bounded: when it is full the caller gets
``Overloaded`` (answered 503 + Retry-After), never an unbounded backlog.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence

import structlog

from ingest.merge import RunChange
from ingest.report import Report
from storage.engine import Database
from storage.ingest_batch import Accepted
from storage.ingest_drivers import IngestDriver, open_ingest_driver

log = structlog.get_logger(__name__)

Pending = tuple[Report, "asyncio.Future[Accepted]"]
CommitListener = Callable[[Sequence[RunChange]], None]


class Overloaded(Exception):
    """The ingest queue is full; the client should retry later."""


class WriterClosed(Exception):
    """The writer is shutting down and takes no more reports."""


class IngestWriter:
    def __init__(
        self,
        database: Database,
        *,
        queue_size: int,
        batch_size: int,
        connections: int = 1,
    ) -> None:
        # SQLite has one writer at a time whatever we do; on PostgreSQL a second
        # connection commits one batch while the next is being merged (same-run merges
        # are serialised by advisory locks, as between replicas).
        count = 1 if database.dialect == "sqlite" else connections
        self._drivers: list[IngestDriver] = [open_ingest_driver(database) for _ in range(count)]
        self._queue: asyncio.Queue[Pending | None] = asyncio.Queue(maxsize=queue_size)
        self._batch_size = batch_size
        self._listeners: list[CommitListener] = []
        self._tasks: list[asyncio.Task[None]] = []
        self._closing = False

    def add_commit_listener(self, listener: CommitListener) -> None:
        """Called after each commit with the runs it changed (live updates)."""
        self._listeners.append(listener)

    @property
    def queued(self) -> int:
        return self._queue.qsize()

    def start(self) -> None:
        self._tasks = [
            asyncio.create_task(self._run(driver), name=f"ingest-writer-{n}")
            for n, driver in enumerate(self._drivers)
        ]

    async def close(self) -> None:
        """Commit everything already queued, then stop."""
        self._closing = True
        if self._tasks:
            for _ in self._tasks:  # one stop mark each, behind every queued report
                await self._queue.put(None)
            await asyncio.gather(*self._tasks)
        for driver in self._drivers:
            await driver.close()

    async def submit(self, report: Report) -> Accepted:
        return (await self.submit_many([report]))[0]

    async def submit_many(self, reports: Sequence[Report]) -> list[Accepted]:
        if self._closing:
            raise WriterClosed
        if self._queue.maxsize - self._queue.qsize() < len(reports):
            raise Overloaded
        loop = asyncio.get_running_loop()
        futures = [loop.create_future() for _ in reports]
        for report, future in zip(reports, futures, strict=True):
            self._queue.put_nowait((report, future))
        return list(await asyncio.gather(*futures))

    async def _run(self, driver: IngestDriver) -> None:
        stopping = False
        while not stopping:
            first = await self._queue.get()
            if first is None:
                break
            batch = [first]
            while len(batch) < self._batch_size and not self._queue.empty():
                item = self._queue.get_nowait()
                if item is None:
                    stopping = True
                    break
                batch.append(item)
            await self._commit(driver, batch)

    async def _commit(self, driver: IngestDriver, batch: list[Pending]) -> None:
        try:
            results, changes = await driver.apply([report for report, _ in batch])
        except Exception as exc:
            if len(batch) > 1:
                # Isolate the report at fault so the others still commit.
                for item in batch:
                    await self._commit(driver, [item])
                return
            log.warning("ingest_failed", error=type(exc).__name__, detail=str(exc)[:200])
            if not batch[0][1].done():
                batch[0][1].set_exception(exc)
            return
        for (_, future), result in zip(batch, results, strict=True):
            if not future.done():
                future.set_result(result)
        for listener in self._listeners:
            listener(changes)
