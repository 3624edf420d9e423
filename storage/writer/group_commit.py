"""Group commit: requests queue their reports, one task commits them in batches.

Each request is answered only after the transaction holding its report commits, so
a 2xx always means stored. The queue is bounded: when it is full the caller gets
``Overloaded`` (answered 503 + Retry-After), never an unbounded backlog.

A writer process (process_proxy.py) is handed up to eight batches at a time
and stores every batch waiting whenever it is free, in one transaction: it goes on as
soon as a commit is done, instead of waiting while the answer crosses back and the
next batch is gathered and sent (a PostgreSQL writer process spent 27 % of its time
waiting so). The in-process drivers take one batch at a time.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Sequence

import structlog

from ingest.report import Report
from ingest.run_record import RunRecord
from storage.engine import Database
from storage.writer.drivers import IngestDriver, open_ingest_driver
from storage.writer.plan import Accepted

log = structlog.get_logger(__name__)

Pending = tuple[Report, "asyncio.Future[Accepted]"]
CommitListener = Callable[[Sequence[RunRecord]], None]


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
        separate_process: bool = False,
    ) -> None:
        self._driver: IngestDriver = open_ingest_driver(
            database, batch_size=batch_size, separate_process=separate_process
        )
        self._queue: asyncio.Queue[Pending | None] = asyncio.Queue(maxsize=queue_size)
        self._batch_size = batch_size
        self._listeners: list[CommitListener] = []
        self._wanted: list[Callable[[], bool]] = []
        self._task: asyncio.Task[None] | None = None
        self._closing = False

    def add_commit_listener(
        self, listener: CommitListener, wanted: Callable[[], bool] = lambda: True
    ) -> None:
        """Called after each commit with the runs it changed, as committed (live updates).
        ``wanted`` says whether it needs them for the batch being sent: a writer process
        pickles the runs back only then (9 µs a report, for nobody when nobody listens);
        unwanted, it is called with none."""
        self._listeners.append(listener)
        self._wanted.append(wanted)

    def process_id(self) -> int:
        """The writer process's pid (with ``separate_process``); tests stop it."""
        pid = self._driver.pid
        if pid is None:
            raise TypeError("the writer runs in this process")
        return pid

    @property
    def queued(self) -> int:
        return self._queue.qsize()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="ingest-writer")

    async def ready(self) -> None:
        """Wait until the driver can take a batch (a writer process has started)."""
        await self._driver.ready()

    async def close(self) -> None:
        """Commit everything already queued, then stop."""
        self._closing = True
        if self._task is None:
            return
        with contextlib.suppress(asyncio.QueueFull):
            self._queue.put_nowait(None)
        await self._task
        await self._driver.close()

    async def submit(self, report: Report) -> Accepted:
        """One report (the REST path): one future, no gather."""
        if self._closing:
            raise WriterClosed
        if self._queue.full():
            raise Overloaded
        future: asyncio.Future[Accepted] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait((report, future))
        return await future

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

    async def _run(self) -> None:
        slots = asyncio.Semaphore(self._driver.batches_in_flight)
        commits: set[asyncio.Task[None]] = set()

        def finished(task: asyncio.Task[None]) -> None:
            commits.discard(task)
            slots.release()

        stopping = False
        while not stopping:
            # A free slot first, then the batch: it takes in whatever queued meanwhile.
            await slots.acquire()
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
            task = asyncio.create_task(self._commit(batch))
            commits.add(task)
            task.add_done_callback(finished)
        await asyncio.gather(*commits)
        while not self._queue.empty():  # reports that raced with close()
            item = self._queue.get_nowait()
            if item is not None:
                await self._commit([item])

    async def _commit(self, batch: list[Pending]) -> None:
        try:
            want_runs = any(wanted() for wanted in self._wanted)
            results, runs = await self._driver.apply(
                [report for report, _ in batch], want_runs=want_runs
            )
        except Exception as exc:
            if len(batch) > 1:
                # Isolate the report at fault so the others still commit.
                for item in batch:
                    await self._commit([item])
                return
            log.warning("ingest_failed", error=type(exc).__name__, detail=str(exc)[:200])
            if not batch[0][1].done():
                batch[0][1].set_exception(exc)
            return
        for (_, future), result in zip(batch, results, strict=True):
            if not future.done():
                future.set_result(result)
        for listener in self._listeners:
            listener(runs)
