"""Writing many generated runs at once, around the per-report ingest path.

Live ingest validates, deduplicates and merges report by report and moves the rollups
run by run; loading a million demo runs that way would take an hour. ``bulk_load``
takes runs already in their merged form, with their events and the rollup rows they
add, and writes them in large transactions with no per-row work in the writer that
the drivers can avoid: SQLite copies side files in C (storage/bulk/sqlite_loader.py),
PostgreSQL receives ``COPY`` through the asyncpg connection (storage/bulk/postgres_loader.py).

It only loads into an empty store, which is what makes the shortcuts safe: secondary
indexes are dropped during the load and re-created afterwards (building an index once
is several times cheaper than updating it row by row), and SQLite runs without a
rollback journal until the load is done. A load that fails half-way leaves a store to
delete, never a store of real data to repair. ``rebuild_rollups``
(storage/bulk/rebuild.py) recomputes the rollups of any store in SQL.
"""

from __future__ import annotations

import asyncio
import contextlib
import tempfile
import time
from collections.abc import AsyncIterable, AsyncIterator, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from storage.bulk import postgres_loader, sqlite_loader
from storage.bulk.rebuild import rebuild_rollups
from storage.bulk.rows import RowChunk, to_rows
from storage.bulk.sqlite_loader import SqliteShard
from storage.engine import Database
from storage.model.rollup_spec import TABLES as ROLLUP_TABLES
from storage.model.rollup_tables import ROLLUP_ERROR_CODE
from storage.model.tables import EVENTS, RUNS

__all__ = ["BulkResult", "StoreNotEmpty", "bulk_load", "rebuild_rollups"]

LOADED_TABLES = "('runs', 'events')"
T = TypeVar("T")
Chunks = Iterable[Any] | AsyncIterable[Any]
Prepared = SqliteShard | RowChunk


class StoreNotEmpty(Exception):
    """Bulk loads only go into a store without runs or events."""


@dataclass(frozen=True, slots=True)
class BulkResult:
    runs: int
    events: int
    seconds: float


async def bulk_load(database: Database, chunks: Chunks) -> BulkResult:
    """Write every chunk's runs, events and rollup rows; then re-create the indexes.

    ``chunks`` yields ``seed.generator.SeedChunk``s (runs as dicts with exactly the runs
    columns, events as events rows with ``raw`` as JSON text), ``RowChunk``s already
    converted for this store, or, on SQLite, ``SqliteShard``s (what the parallel
    generator sends). Chunks are taken while earlier ones are written, and a plain
    iterable is advanced in a thread, so that making chunks overlaps writing them.
    """
    started = time.perf_counter()
    runs = events = 0
    async with database.writer.connect() as conn:
        await _start_empty(conn)
        sqlite = conn.dialect.name == "sqlite"
        async with contextlib.AsyncExitStack() as settings:
            if sqlite:
                await settings.enter_async_context(sqlite_loader.bulk_settings(conn))
            else:
                await postgres_loader.start_staging(conn)
            indexes = await _drop_secondary_indexes(conn)
            with tempfile.TemporaryDirectory(prefix="installstats-bulk-") as scratch:
                prepared = _prepared(_aiter(chunks), conn.dialect.name, Path(scratch))
                # Shards wait on disk, rows in memory.
                size = sqlite_loader.MAX_SHARDS_PER_COPY if sqlite else 1
                async for batch in _batches(prepared, size, ahead=4 * size if sqlite else 1):
                    await _write(conn, batch)
                    for item in batch:
                        item_runs, item_events = _counts(item)
                        runs, events = runs + item_runs, events + item_events
            async with conn.begin():
                if not sqlite:
                    await postgres_loader.finish_staging(conn)
                for create in indexes:
                    await conn.exec_driver_sql(create)
        if not sqlite:
            # Fresh planner statistics, or the first dashboards plan for empty tables;
            # and the rollups' visibility map, without which their index-only scans
            # (migration 0008) fetch every heap page until autovacuum comes by.
            autocommit = await conn.execution_options(isolation_level="AUTOCOMMIT")
            for table in (*ROLLUP_TABLES, ROLLUP_ERROR_CODE):
                await autocommit.exec_driver_sql(f"VACUUM (ANALYZE) {table.name}")
            await autocommit.exec_driver_sql("ANALYZE")
    return BulkResult(runs, events, time.perf_counter() - started)


def _counts(item: Prepared) -> tuple[int, int]:
    if isinstance(item, SqliteShard):
        return item.runs, item.events
    return len(item.runs), len(item.events)


async def _write(conn: AsyncConnection, batch: list[Prepared]) -> None:
    shards = [item for item in batch if isinstance(item, SqliteShard)]
    if shards:
        await sqlite_loader.copy_shards(conn, shards)
        return
    async with conn.begin():
        for rows in batch:
            assert isinstance(rows, RowChunk)
            await postgres_loader.copy_rows(conn, rows)


async def _prepared(
    chunks: AsyncIterator[Any], dialect: str, scratch: Path
) -> AsyncIterator[Prepared]:
    """Each chunk in the form the store's writer takes: shards for SQLite, rows else
    (converted in a thread, so that the event loop keeps feeding the writer)."""
    number = 0
    async for chunk in chunks:
        if isinstance(chunk, SqliteShard) or (dialect != "sqlite" and isinstance(chunk, RowChunk)):
            yield chunk
        else:
            yield await asyncio.to_thread(_prepare, chunk, dialect, scratch / f"{number}.db")
            number += 1


def _prepare(chunk: Any, dialect: str, path: Path) -> Prepared:
    rows = chunk if isinstance(chunk, RowChunk) else to_rows(chunk, dialect)
    return sqlite_loader.write_shard(str(path), rows) if dialect == "sqlite" else rows


async def _aiter(chunks: Chunks) -> AsyncIterator[Any]:
    if isinstance(chunks, AsyncIterable):
        async for chunk in chunks:
            yield chunk
        return
    iterator: Iterator[Any] = iter(chunks)
    sentinel = object()
    while (chunk := await asyncio.to_thread(next, iterator, sentinel)) is not sentinel:
        yield chunk


async def _batches(items: AsyncIterator[T], size: int, ahead: int) -> AsyncIterator[list[T]]:
    """``items`` in lists of ``size`` (the last one shorter). A task keeps taking items,
    up to ``ahead`` of them, while the consumer writes a batch: the generator's
    workers never wait for the writer."""
    queue: asyncio.Queue[tuple[T] | Exception | None] = asyncio.Queue(maxsize=ahead)

    async def produce() -> None:
        try:
            async for item in items:
                await queue.put((item,))
        except Exception as exc:  # handed to the consumer, which raises it
            await queue.put(exc)
        else:
            await queue.put(None)

    producer = asyncio.create_task(produce())
    try:
        batch: list[T] = []
        while (entry := await queue.get()) is not None:
            if isinstance(entry, Exception):
                raise entry
            batch.append(entry[0])
            if len(batch) == size:
                yield batch
                batch = []
        if batch:
            yield batch
    finally:
        producer.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await producer


async def _start_empty(conn: AsyncConnection) -> None:
    async with conn.begin():
        for table in (RUNS, EVENTS):
            if await conn.scalar(select(table.c[0]).limit(1)) is not None:
                raise StoreNotEmpty(
                    f"the {table.name} table is not empty: bulk loads need an empty store"
                )
        # Rollups of no runs are empty; the load adds to them batch by batch.
        for rollup in ROLLUP_TABLES:
            await conn.execute(rollup.delete())


async def _drop_secondary_indexes(conn: AsyncConnection) -> list[str]:
    """Drop the indexes of the loaded tables; return the SQL that re-creates them.

    Read from the database rather than the models, so that whatever indexes the
    migrations made come back exactly; indexes behind primary keys and unique
    constraints stay (SQLite cannot drop them, and they keep the load honest). A unique
    index (events' run and dedup key) is built again once at the end, and a duplicate
    would fail the load there.
    """
    async with conn.begin():
        if conn.dialect.name == "sqlite":
            rows = await conn.exec_driver_sql(
                "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL "
                f"AND tbl_name IN {LOADED_TABLES}"
            )
        else:
            rows = await conn.exec_driver_sql(
                "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = current_schema() "
                f"AND tablename IN {LOADED_TABLES} "
                "AND indexname NOT IN (SELECT conname FROM pg_constraint)"
            )
        indexes = [(str(row[0]), str(row[1])) for row in map(tuple, rows)]
        for name, _ in indexes:
            await conn.exec_driver_sql(f'DROP INDEX "{name}"')
    return [sql for _, sql in indexes]
