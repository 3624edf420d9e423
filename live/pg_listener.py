"""Changed runs from every replica, through PostgreSQL LISTEN/NOTIFY.

The ingest transaction sends ``pg_notify(RUNS_CHANNEL, <JSON list of run ids>)``
(storage/writer/plan.py); PostgreSQL delivers it at commit to every listening
connection, the origin replica's included. Each process keeps one dedicated
connection listening (a pooled connection cannot: LISTEN belongs to a session),
loads the notified runs and publishes them to its own broker. There is one path on
PostgreSQL, so no run is pushed twice by the process that stored it.

Runs are loaded by one worker in notification order, so each load reads a state at
least as new as the previous one and a subscriber never sees a run go backwards. Ids
waiting for it are coalesced, which keeps the backlog bounded by distinct runs.

If the connection drops it is reopened with capped exponential backoff; changes
committed while no connection listens are not pushed (the feed is live, not a log).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from typing import Any, cast

import asyncpg
import orjson
import structlog
from sqlalchemy import select

from ingest.run_record import RunRecord
from live.broker import RunBroker
from storage.engine import Database, asyncpg_dsn
from storage.model.tables import RUNS
from storage.writer.plan import RUNS_CHANNEL

log = structlog.get_logger(__name__)

LOAD_CHUNK = 500  # run ids per SELECT
PING_SECONDS = 30.0  # a silent, half-open connection is found within this
PING_TIMEOUT = 10.0
CONNECT_TIMEOUT = 10.0
BACKOFF_FIRST = 0.5
BACKOFF_MAX = 30.0
# Names the LISTEN connection in pg_stat_activity (operators, tests).
APPLICATION_NAME = "installstats-live"


class PgRunListener:
    """LISTEN on ``RUNS_CHANNEL``; publish the notified runs to ``broker``."""

    def __init__(self, database_url: str, database: Database, broker: RunBroker) -> None:
        self._dsn = asyncpg_dsn(database_url)
        self._database = database
        self._broker = broker
        self._pending: dict[str, None] = {}  # ordered set of run ids to load
        self._wake = asyncio.Event()
        self._listening = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    @property
    def listening(self) -> bool:
        return self._listening.is_set()

    async def start(self, *, wait: float = CONNECT_TIMEOUT) -> None:
        """Start listening; wait (bounded) until LISTEN is in place, so that reports
        stored once the server reports ready are pushed. A store that is down at start
        is retried in the background rather than failing startup."""
        self._tasks = [
            asyncio.create_task(self._listen_forever(), name="live-pg-listen"),
            asyncio.create_task(self._load_forever(), name="live-pg-load"),
        ]
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._listening.wait(), timeout=wait)
        if not self.listening:
            log.warning("live_listener_not_ready", waited_seconds=wait)

    async def stop(self) -> None:
        """Cancel both tasks; the listening connection is closed on the way out."""
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []

    async def _listen_forever(self) -> None:
        backoff = BACKOFF_FIRST
        while True:
            try:
                await self._listen_once()
                backoff = BACKOFF_FIRST  # it was up: start the backoff over
            except Exception as exc:  # whatever broke this connection, the next one may work
                log.warning("live_listener_failed", error=type(exc).__name__, detail=str(exc)[:200])
            self._listening.clear()
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, BACKOFF_MAX)

    async def _listen_once(self) -> None:
        """One connection's life: LISTEN, then ping until it is lost. Returns when lost."""
        conn = await asyncpg.connect(
            self._dsn,
            timeout=CONNECT_TIMEOUT,
            server_settings={"application_name": APPLICATION_NAME},
        )
        lost = asyncio.Event()
        try:
            conn.add_termination_listener(lambda _conn: lost.set())
            await conn.add_listener(RUNS_CHANNEL, self._on_notification)
            self._listening.set()
            log.info("live_listener_ready", channel=RUNS_CHANNEL)
            while not lost.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(lost.wait(), timeout=PING_SECONDS)
                if not lost.is_set():
                    await conn.fetchval("SELECT 1", timeout=PING_TIMEOUT)
            log.warning("live_listener_lost")
        finally:
            # Also on cancellation (shutdown): an open connection must not linger.
            if not conn.is_closed():
                await _close(conn)

    def _on_notification(self, _conn: Any, _pid: int, _channel: str, payload: str) -> None:
        if not self._broker.subscriber_count:
            return  # nobody to push to: loading the runs would be wasted reads
        try:
            run_ids = orjson.loads(payload)
        except orjson.JSONDecodeError:
            log.warning("live_notification_malformed", payload=payload[:200])
            return
        if not isinstance(run_ids, list):
            return
        for run_id in run_ids:
            if isinstance(run_id, str):
                self._pending.pop(run_id, None)  # re-add at the end: keeps the latest order
                self._pending[run_id] = None
        self._wake.set()

    async def _load_forever(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._pending:
                run_ids = list(self._pending)[:LOAD_CHUNK]
                for run_id in run_ids:
                    del self._pending[run_id]
                try:
                    self._broker.publish(await self._load(run_ids))
                except Exception as exc:  # a failed load loses this push, not the feed
                    log.warning("live_load_failed", error=type(exc).__name__, detail=str(exc)[:200])

    async def _load(self, run_ids: Sequence[str]) -> list[RunRecord]:
        async with self._database.reader.connect() as conn:
            rows = await conn.execute(select(RUNS).where(RUNS.c.id.in_(run_ids)))
            by_id = {row.id: dict(row._mapping) for row in rows}
        # Whole runs rows, as the column types return them: RunRecords.
        return cast(list[RunRecord], [by_id[run_id] for run_id in run_ids if run_id in by_id])


async def _close(conn: Any) -> None:
    try:
        await asyncio.wait_for(conn.close(), timeout=PING_TIMEOUT)
    except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError):
        conn.terminate()
