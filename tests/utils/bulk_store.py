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
from storage.model.app_bits import app_ids, app_set
from storage.model.rollup_spec import MEASURES
from storage.model.rollup_spec import TABLES as ROLLUP_TABLES

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
    """Every rollup row that counts something, per table, sorted; rollup_error_code's
    with app names for ids (stores number their apps in the order they meet them)."""
    async with connected(database_url) as conn:
        snapshot = {}
        for table in ROLLUP_TABLES:
            counting = " OR ".join(f"{measure} <> 0" for measure in MEASURES[table.name])
            sql = f"SELECT * FROM {table.name} WHERE {counting}"
            snapshot[table.name] = sorted(await rows(conn, sql))
        snapshot["rollup_error_code"] = await error_code_rows(conn)
        return snapshot


async def error_code_rows(conn: AsyncConnection) -> Rows:
    """rollup_error_code as (grain, bucket, kind, code, category, runs, app names), the
    rows that count a run or an app."""
    names: dict[int, str] = dict(await rows(conn, "SELECT id, app FROM app_ids"))
    found = []
    for *keys, runs, bits in await rows(
        conn,
        "SELECT grain, bucket_start, kind, exit_code, error_category, runs, apps "
        "FROM rollup_error_code",
    ):
        apps = tuple(sorted(names[n] for n in app_ids(app_set(bits))))
        if runs or apps:
            found.append((*keys, runs, apps))
    return sorted(found)


async def error_code_rows_of_error_rows(conn: AsyncConnection) -> Rows:
    """What rollup_error_code must hold, summed from rollup_error in Python."""
    derived: dict[tuple[Any, ...], tuple[int, set[str]]] = {}
    for grain, bucket, kind, app, code, category, runs in await rows(
        conn,
        "SELECT grain, bucket_start, kind, app, exit_code, error_category, runs FROM rollup_error",
    ):
        total, apps = derived.get((grain, bucket, kind, code, category), (0, set()))
        if runs and app:
            apps.add(app)
        derived[(grain, bucket, kind, code, category)] = (total + runs, apps)
    return sorted(
        (*keys, runs, tuple(sorted(apps))) for keys, (runs, apps) in derived.items() if runs or apps
    )


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
