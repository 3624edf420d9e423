"""Reading a store as plain values, for the bulk-load tests (tests/test_bulk.py).

Rows are read with raw SQL so that what is compared is what is stored: on SQLite the
datetime text itself (a bucket spelled '2026-11-27 12:00:00' instead of
'2026-11-27 12:00:00.000000' would be another key), on PostgreSQL the timestamptz.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from storage.engine import open_database
from storage.rollup_spec import TABLES as ROLLUP_TABLES

Rows = list[tuple[Any, ...]]


@asynccontextmanager
async def connected(database_url: str) -> AsyncIterator[AsyncConnection]:
    database = open_database(database_url)
    try:
        async with database.reader.connect() as conn:
            yield conn
    finally:
        await database.dispose()


async def rows(conn: AsyncConnection, sql: str) -> Rows:
    return [tuple(row) for row in await conn.exec_driver_sql(sql)]


async def scalar(conn: AsyncConnection, sql: str) -> Any:
    return (await conn.exec_driver_sql(sql)).scalar()


async def rollup_snapshot(database_url: str) -> dict[str, Rows]:
    """Every rollup row that counts something, per table, sorted."""
    async with connected(database_url) as conn:
        return {
            table.name: sorted(await rows(conn, f"SELECT * FROM {table.name} WHERE runs <> 0"))
            for table in ROLLUP_TABLES
        }


async def index_definitions(database_url: str) -> list[str]:
    """The SQL of every index of the runs and events tables."""
    async with connected(database_url) as conn:
        if conn.dialect.name == "sqlite":
            sql = (
                "SELECT name || ': ' || COALESCE(sql, '(constraint)') FROM sqlite_master "
                "WHERE type = 'index' AND tbl_name IN ('runs', 'events')"
            )
        else:
            sql = (
                "SELECT indexdef FROM pg_indexes "
                "WHERE schemaname = current_schema() AND tablename IN ('runs', 'events')"
            )
        return sorted(str(row[0]) for row in await rows(conn, sql))
