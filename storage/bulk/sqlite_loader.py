"""SQLite bulk loads: side files copied in C, with no journal until the load is done.

Binding Python values row by row (``executemany``) costs about as much as the
insert itself (on this project's 2-core machine ~15 µs a run row, ~6 µs an event
row), and SQLite has one writer. A generator worker therefore writes its block into a
shard, a small SQLite file with the loaded tables and no indexes, and the writer
attaches shards and copies them with ``INSERT … SELECT`` (no Python per row), so the
binding runs in parallel in the workers. Rollup rows are added to the ones other
shards made.

During the load the store runs without a rollback journal or fsync (bulk loads only
go into an empty store: a failed one leaves a store to delete), with a page cache for
the hot pages of the unique indexes that fixes the writer's memory whatever the
number of runs.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from storage.bulk.rows import RowChunk
from storage.model.rollup_spec import KEY_COLUMNS, MEASURES
from storage.model.tables import EVENT_COLUMNS, RUN_COLUMNS

TABLE_COLUMNS = {
    "runs": RUN_COLUMNS,
    "events": EVENT_COLUMNS,
    **{table: keys + MEASURES[table] for table, keys in KEY_COLUMNS.items()},
}
# SQLite attaches at most 10 databases by default (SQLITE_MAX_ATTACHED).
MAX_SHARDS_PER_COPY = 8
BULK_PRAGMAS = {"journal_mode": "OFF", "synchronous": "OFF", "cache_size": "-131072"}  # 128 MiB


@contextlib.asynccontextmanager
async def bulk_settings(conn: AsyncConnection) -> AsyncIterator[None]:
    """BULK_PRAGMAS for the duration, then the connection's own settings again.

    PRAGMAs go through the driver connection: a SQLAlchemy statement would open a
    transaction (BEGIN IMMEDIATE), and the journal mode cannot change inside one.
    """
    driver: Any = (await conn.get_raw_connection()).driver_connection
    saved: dict[str, Any] = {}
    for name, value in BULK_PRAGMAS.items():
        cursor = await driver.execute(f"PRAGMA {name}")
        saved[name] = (await cursor.fetchone())[0]
        await driver.execute(f"PRAGMA {name} = {value}")
    try:
        yield
    finally:
        for name, value in saved.items():
            await driver.execute(f"PRAGMA {name} = {value}")


@dataclass(frozen=True, slots=True)
class SqliteShard:
    """A block written to its own SQLite file, to be copied in and deleted."""

    path: str
    runs: int
    events: int


def write_shard(path: str, rows: RowChunk) -> SqliteShard:
    """Write ``rows`` to a new SQLite file at ``path`` (in a worker process)."""
    connection = sqlite3.connect(path, isolation_level=None)
    try:
        connection.execute("PRAGMA journal_mode = OFF")
        connection.execute("PRAGMA synchronous = OFF")
        connection.execute("BEGIN")
        tables: dict[str, list[tuple[Any, ...]]] = {
            "runs": rows.runs,
            "events": rows.events,
            **rows.rollups,
        }
        for table, table_rows in tables.items():
            columns = TABLE_COLUMNS[table]
            connection.execute(f"CREATE TABLE {table} ({_names(columns)})")
            placeholders = ", ".join("?" * len(columns))
            connection.executemany(f"INSERT INTO {table} VALUES ({placeholders})", table_rows)
        connection.execute("COMMIT")
    finally:
        connection.close()
    return SqliteShard(path, len(rows.runs), len(rows.events))


async def copy_shards(conn: AsyncConnection, shards: Sequence[SqliteShard]) -> None:
    """Copy ``shards`` into the store in one transaction, then delete their files.

    Several shards per transaction (at most MAX_SHARDS_PER_COPY, as many as SQLite
    attaches): each commit writes out every page it dirtied, and inserts into the big
    unique indexes dirty pages all over the file, so fewer commits write them fewer
    times (a commit per 2,500-run shard doubles the writer's time).
    """
    if not 0 < len(shards) <= MAX_SHARDS_PER_COPY:
        raise ValueError(f"copy 1 to {MAX_SHARDS_PER_COPY} shards at a time")
    driver: Any = (await conn.get_raw_connection()).driver_connection
    # ATTACH and DETACH cannot run inside a transaction: they go to the driver.
    attached = []
    try:
        for number, shard in enumerate(shards):
            await driver.execute(f"ATTACH DATABASE ? AS shard{number}", (shard.path,))
            attached.append(f"shard{number}")
        async with conn.begin():
            for schema in attached:
                for statement in _copy_statements(schema):
                    await conn.exec_driver_sql(statement)
    finally:
        for schema in attached:
            await driver.execute(f"DETACH DATABASE {schema}")
    for shard in shards:
        os.remove(shard.path)


def _copy_statements(schema: str) -> list[str]:
    statements = []
    for table in ("runs", "events"):
        names = _names(TABLE_COLUMNS[table])
        statements.append(
            f"INSERT INTO main.{table} ({names}) SELECT {names} FROM {schema}.{table}"
        )
    for table, keys in KEY_COLUMNS.items():
        names = _names(keys + MEASURES[table])
        adding = ", ".join(f"{name} = {table}.{name} + excluded.{name}" for name in MEASURES[table])
        # "WHERE true" keeps SQLite from reading ON CONFLICT as a join constraint.
        statements.append(
            f"INSERT INTO main.{table} ({names}) SELECT {names} FROM {schema}.{table} "
            f"WHERE true ON CONFLICT ({', '.join(keys)}) DO UPDATE SET {adding}"
        )
    return statements


def _names(columns: tuple[str, ...]) -> str:
    return ", ".join(f'"{name}"' for name in columns)
