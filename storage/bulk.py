"""Writing many generated runs at once, around the per-report ingest path.

Live ingest validates, deduplicates and merges report by report and moves the rollups
run by run; loading a million demo runs that way would take an hour. ``bulk_load``
takes runs already in their merged form, with their events and the rollup rows they
add, and writes them in one transaction per batch with no per-row work in the writer
that the drivers can avoid: SQLite copies side files in C (storage/sqlite_shards.py),
PostgreSQL receives ``COPY`` through the asyncpg connection.

It only loads into an empty store, which is what makes the shortcuts safe: secondary
indexes are dropped during the load and re-created afterwards (building an index once
is several times cheaper than updating it row by row), and SQLite runs without a
rollback journal or fsync until the load is done. A load that fails half-way leaves a
store to delete, never a store of real data to repair. ``rebuild_rollups``
(storage/rollup_rebuild.py) recomputes the rollups of any store in SQL.
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

from storage.bulk_rows import EVENT_COLUMNS, RowChunk, to_rows
from storage.engine import Database
from storage.rollup_rebuild import rebuild_rollups
from storage.rollup_spec import KEY_COLUMNS, MEASURES
from storage.rollup_spec import TABLES as ROLLUP_TABLES
from storage.sqlite_shards import MAX_SHARDS_PER_COPY, SqliteShard, copy_shards, write_shard
from storage.tables import EVENTS, RUN_COLUMNS, RUNS

__all__ = ["BulkResult", "StoreNotEmpty", "bulk_load", "rebuild_rollups"]

LOADED_TABLES = "('runs', 'events')"
# While loading into SQLite: no rollback journal and no fsync (a failed load leaves a
# store to delete), and a page cache for the unique indexes' hot pages (64 MiB: the
# load's memory must not grow with the number of runs).
SQLITE_BULK_PRAGMAS = {"journal_mode": "OFF", "synchronous": "OFF", "cache_size": "-131072"}


class StoreNotEmpty(Exception):
    """Bulk loads only go into a store without runs or events."""


@dataclass(frozen=True, slots=True)
class BulkResult:
    runs: int
    events: int
    seconds: float


Chunks = Iterable[Any] | AsyncIterable[Any]
T = TypeVar("T")


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
        dialect = conn.dialect.name
        async with _sqlite_bulk_settings(conn, enabled=dialect == "sqlite"):
            indexes = await _drop_secondary_indexes(conn)
            with tempfile.TemporaryDirectory(prefix="installstats-bulk-") as scratch:
                prepared = _prepared(_aiter(chunks), dialect, Path(scratch))
                batch_size = MAX_SHARDS_PER_COPY if dialect == "sqlite" else 1
                async for batch in _ready_batches(prepared, batch_size):
                    await _write(conn, batch)
                    for item in batch:
                        item_runs, item_events = _counts(item)
                        runs, events = runs + item_runs, events + item_events
            async with conn.begin():
                for create in indexes:
                    await conn.exec_driver_sql(create)
        if dialect != "sqlite":
            # Fresh planner statistics, or the first dashboards plan for empty tables.
            async with conn.begin():
                await conn.exec_driver_sql("ANALYZE runs, events")
    return BulkResult(runs, events, time.perf_counter() - started)


Prepared = SqliteShard | RowChunk


def _counts(item: Prepared) -> tuple[int, int]:
    if isinstance(item, SqliteShard):
        return item.runs, item.events
    return len(item.runs), len(item.events)


async def _write(conn: AsyncConnection, batch: list[Prepared]) -> None:
    shards = [item for item in batch if isinstance(item, SqliteShard)]
    if shards:
        await copy_shards(conn, shards)
        return
    async with conn.begin():
        for rows in batch:
            assert isinstance(rows, RowChunk)
            await _postgres_copy(conn, rows)


async def _prepared(
    chunks: AsyncIterator[Any], dialect: str, scratch: Path
) -> AsyncIterator[Prepared]:
    """Each chunk in the form the store's writer takes: shards for SQLite, rows else."""
    number = 0
    async for chunk in chunks:
        if isinstance(chunk, SqliteShard) or (dialect != "sqlite" and isinstance(chunk, RowChunk)):
            yield chunk
            continue
        rows = chunk if isinstance(chunk, RowChunk) else to_rows(chunk, dialect)
        if dialect == "sqlite":
            path = str(scratch / f"{number}.db")
            number += 1
            yield await asyncio.to_thread(write_shard, path, rows)
        else:
            yield rows


async def _aiter(chunks: Chunks) -> AsyncIterator[Any]:
    if isinstance(chunks, AsyncIterable):
        async for chunk in chunks:
            yield chunk
        return
    iterator: Iterator[Any] = iter(chunks)
    sentinel = object()
    while (chunk := await asyncio.to_thread(next, iterator, sentinel)) is not sentinel:
        yield chunk


async def _ready_batches(items: AsyncIterator[T], limit: int) -> AsyncIterator[list[T]]:
    """``items`` in lists of up to ``limit``: the first waited for, then those already
    made. A task keeps taking items (at most ``limit`` ahead) while a batch is written."""
    queue: asyncio.Queue[tuple[T] | Exception | None] = asyncio.Queue(maxsize=limit)

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
        finished = False
        while not finished:
            batch: list[T] = []
            entry = await queue.get()
            while True:
                if isinstance(entry, Exception):
                    raise entry
                if entry is None:
                    finished = True
                    break
                batch.append(entry[0])
                if len(batch) == limit or queue.empty():
                    break
                entry = queue.get_nowait()
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


@contextlib.asynccontextmanager
async def _sqlite_bulk_settings(conn: AsyncConnection, *, enabled: bool) -> AsyncIterator[None]:
    """SQLITE_BULK_PRAGMAS for the duration, then the connection's own settings again.

    PRAGMAs go through the driver connection: a SQLAlchemy statement would open a
    transaction (BEGIN IMMEDIATE), and the journal mode cannot change inside one.
    """
    if not enabled:
        yield
        return
    driver = (await conn.get_raw_connection()).driver_connection
    assert driver is not None
    saved: dict[str, Any] = {}
    for name, value in SQLITE_BULK_PRAGMAS.items():
        cursor = await driver.execute(f"PRAGMA {name}")
        row = await cursor.fetchone()
        saved[name] = None if row is None else row[0]
        await driver.execute(f"PRAGMA {name} = {value}")
    try:
        yield
    finally:
        for name, value in saved.items():
            await driver.execute(f"PRAGMA {name} = {value}")


async def _drop_secondary_indexes(conn: AsyncConnection) -> list[str]:
    """Drop the plain indexes of the loaded tables; return the SQL that re-creates them.

    Read from the database rather than the models, so that whatever indexes the
    migrations made come back exactly; indexes behind primary keys and unique
    constraints stay (SQLite cannot drop them, and they keep the load honest).
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


def _postgres_upsert(table: str) -> str:
    """Insert rollup rows, adding to the rows an earlier batch made."""
    columns = KEY_COLUMNS[table] + MEASURES[table]
    names = ", ".join(f'"{name}"' for name in columns)
    values = ", ".join(f"${number}" for number in range(1, len(columns) + 1))
    adding = ", ".join(f"{name} = {table}.{name} + excluded.{name}" for name in MEASURES[table])
    return (
        f"INSERT INTO {table} ({names}) VALUES ({values}) "
        f"ON CONFLICT ({', '.join(KEY_COLUMNS[table])}) DO UPDATE SET {adding}"
    )


async def _postgres_copy(conn: AsyncConnection, rows: RowChunk) -> None:
    # A statement first, so that the COPYs run inside this transaction.
    await conn.exec_driver_sql("SET LOCAL synchronous_commit = off")
    driver = (await conn.get_raw_connection()).driver_connection
    assert driver is not None
    if rows.runs:
        await driver.copy_records_to_table("runs", records=rows.runs, columns=RUN_COLUMNS)
    if rows.events:
        await driver.copy_records_to_table("events", records=rows.events, columns=EVENT_COLUMNS)
    for table, table_rows in rows.rollups.items():
        if table_rows:
            await driver.executemany(_postgres_upsert(table), table_rows)
