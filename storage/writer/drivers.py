"""Running an ingest plan (storage/writer/plan.py) on each store; its writes commit at once.

SQLite: the whole batch — statements, merge, rollups, COMMIT and its fsync — runs in
one dedicated thread on its own sqlite3 connection, so the event loop keeps answering
HTTP meanwhile (sqlite3 releases the GIL while SQLite works). One thread, one
connection: SQLite has one writer anyway, and BEGIN IMMEDIATE takes its lock up front.
PostgreSQL: asyncpg statements on a connection of the writer's own, one round trip per
step and no transaction block: the plan's reads, then its one write statement, which
commits as it ends and fails if another writer changed the batch's runs meanwhile (then
the batch is read and merged again).
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Protocol

import asyncpg
from sqlalchemy.engine import make_url

from ingest.report import Report
from storage.engine import Database, asyncpg_dsn, configure_sqlite
from storage.writer.plan import BatchResult, Plan, ingest_plan
from storage.writer.process_proxy import ProcessIngestDriver
from storage.writer.sql import DEADLOCK, WRITE_CONFLICT, Rows, ingest_sql
from storage.writer.written_runs import WrittenRuns

CONNECT_TIMEOUT = 10.0
# Times a PostgreSQL batch is merged again after another writer changed its runs.
WRITE_CONFLICT_RETRIES = 20
# Names the writer's connection in pg_stat_activity.
APPLICATION_NAME = "installstats-writer"


class IngestDriver(Protocol):
    # Batches the writer hands over before the first of them is answered.
    batches_in_flight: int

    @property
    def pid(self) -> int | None:
        """The process that writes, when it is not this one (tests stop it)."""
        ...

    async def ready(self) -> None: ...

    async def apply(self, reports: Sequence[Report], want_runs: bool = True) -> BatchResult:
        """Store ``reports`` in one transaction; the runs come back as committed unless
        ``want_runs`` is false (then maybe none: a driver may skip them)."""
        ...

    async def close(self) -> None: ...


def open_ingest_driver(
    database: Database, *, batch_size: int, separate_process: bool = False
) -> IngestDriver:
    """The store's driver; with ``separate_process``, the same driver in a process of
    its own (process_proxy.py)."""
    if database.dialect == "sqlite":
        path = make_url(str(database.writer.url)).database
        if not path or path == ":memory:":
            raise ValueError("the SQLite store needs a database file")
        target = path
    else:
        target = asyncpg_dsn(database.writer.url.render_as_string(False))
    if separate_process:
        return ProcessIngestDriver(
            database.dialect, target, database.sqlite_synchronous, batch_size
        )
    if database.dialect == "sqlite":
        return SqliteIngestDriver(target, database.sqlite_synchronous)
    return PostgresIngestDriver(target)


class SqliteIngestDriver:
    batches_in_flight = 1
    pid = None

    def __init__(self, path: str, synchronous: str) -> None:
        self._path = path
        self._synchronous = synchronous
        self._connection: sqlite3.Connection | None = None
        self._thread = ThreadPoolExecutor(1, thread_name_prefix="installstats-sqlite-writer")
        self._sql = ingest_sql("sqlite")

    async def ready(self) -> None:
        """Ready at once: the connection opens with the first batch."""

    async def apply(self, reports: Sequence[Report], want_runs: bool = True) -> BatchResult:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._thread, self._apply, reports)

    async def close(self) -> None:
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._thread, self._disconnect)
        self._thread.shutdown(wait=True)

    def apply_here(self, reports: Sequence[Report]) -> BatchResult:
        """``apply`` on the calling thread (the writer process's only thread)."""
        return self._apply(reports)

    def open_here(self) -> None:
        if self._connection is None:
            self._connect()

    def close_here(self) -> None:
        self._disconnect()

    def _apply(self, reports: Sequence[Report]) -> BatchResult:
        connection = self._connection or self._connect()
        connection.execute("BEGIN IMMEDIATE")
        try:
            result = _run_sync(ingest_plan(self._sql, reports), connection)
            connection.execute("COMMIT")
        except BaseException:
            if connection.in_transaction:
                connection.execute("ROLLBACK")
            raise
        return result

    def _connect(self) -> sqlite3.Connection:
        # isolation_level=None: transactions are exactly the BEGIN/COMMIT sent above.
        connection = sqlite3.connect(
            self._path, timeout=30, isolation_level=None, cached_statements=1024
        )
        configure_sqlite(connection, self._synchronous)
        self._connection = connection
        return connection

    def _disconnect(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None


def _run_sync(plan: Plan, connection: sqlite3.Connection) -> BatchResult:
    rows: Rows | None = None
    try:
        while True:
            step = plan.send(rows)
            rows = connection.execute(step.sql, step.params).fetchall()
    except StopIteration as done:
        result: BatchResult = done.value
        return result


class PostgresIngestDriver:
    """One asyncpg connection of its own, served by an event loop in its own thread.

    On the server's loop every round trip of a batch (two of them) would wait its turn
    behind the HTTP work of all 32 connections, so a batch took several loop rounds;
    on its own loop a reply is handled as soon as it arrives. A connection that failed
    is dropped and the next batch opens a new one. In the writer process, whose loop
    does nothing else, ``apply_here`` runs on the caller's loop instead.
    """

    batches_in_flight = 1
    pid = None

    def __init__(self, dsn: str, *, own_loop: bool = True) -> None:
        self._dsn = dsn
        self._connection: asyncpg.Connection | None = None
        self._sql = ingest_sql("postgresql")
        self._written = WrittenRuns()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="installstats-pg-writer", daemon=True
        )
        if own_loop:
            self._thread.start()

    async def ready(self) -> None:
        """Ready at once: the connection opens with the first batch."""

    async def apply(self, reports: Sequence[Report], want_runs: bool = True) -> BatchResult:
        done = asyncio.run_coroutine_threadsafe(self._apply(reports), self._loop)
        return await asyncio.wrap_future(done)

    async def apply_here(self, reports: Sequence[Report]) -> BatchResult:
        return await self._apply(reports)

    async def close_here(self) -> None:
        await self._close()
        self._loop.close()

    async def close(self) -> None:
        if self._loop.is_closed():
            return
        await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(self._close(), self._loop))
        self._loop.call_soon_threadsafe(self._loop.stop)
        await asyncio.to_thread(self._thread.join)
        self._loop.close()

    async def _apply(self, reports: Sequence[Report]) -> BatchResult:
        connection = self._connection
        if connection is None or connection.is_closed():
            connection = self._connection = await asyncpg.connect(
                self._dsn,
                timeout=CONNECT_TIMEOUT,
                server_settings={"application_name": APPLICATION_NAME},
            )
        # The first attempt merges with what this writer remembers instead of reading;
        # after a conflict the batch is read.
        written: WrittenRuns | None = self._written
        for attempt in range(WRITE_CONFLICT_RETRIES + 1):
            try:
                result = await _run_async(ingest_plan(self._sql, reports, written), connection)
            except asyncpg.PostgresError as exc:
                self._written.forget(reports)
                if (
                    exc.sqlstate not in (WRITE_CONFLICT, DEADLOCK)
                    or attempt == WRITE_CONFLICT_RETRIES
                ):
                    raise
                written = None
            except (OSError, asyncpg.InterfaceError, asyncpg.ConnectionDoesNotExistError):
                self._written.forget(reports)
                await self._close()
                raise
            except BaseException:
                self._written.forget(reports)
                raise
            else:
                self._written.remember(reports, result[1])
                return result
        raise AssertionError("unreachable")

    async def _close(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None and not connection.is_closed():
            try:
                await asyncio.wait_for(connection.close(), timeout=CONNECT_TIMEOUT)
            except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError):
                connection.terminate()


async def _run_async(plan: Plan, driver: Any) -> BatchResult:
    rows: Rows | None = None
    try:
        while True:
            step = plan.send(rows)
            rows = await driver.fetch(step.sql, *step.params)
    except StopIteration as done:
        result: BatchResult = done.value
        return result
