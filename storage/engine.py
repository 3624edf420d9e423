"""Engines for the two stores, with the connection settings each one needs."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from storage.model.app_bits import SQL_FUNCTION, with_app_bit


@dataclass(frozen=True, slots=True)
class Database:
    """Where writes and reads go.

    SQLite has one writer at a time, so writes get their own single connection that
    takes the write lock up front (``BEGIN IMMEDIATE``) and never waits half-way
    through a transaction; reads use a separate pool and, in WAL mode, never block
    it. On PostgreSQL both names point at one pooled engine.
    """

    writer: AsyncEngine
    reader: AsyncEngine
    sqlite_synchronous: str = "FULL"

    @property
    def dialect(self) -> str:
        return self.writer.dialect.name

    async def dispose(self) -> None:
        await self.writer.dispose()
        if self.reader is not self.writer:
            await self.reader.dispose()


def open_database(url: str, *, sqlite_synchronous: str = "FULL") -> Database:
    if make_url(url).get_backend_name() == "sqlite":
        return Database(
            writer=_sqlite_engine(url, writer=True, synchronous=sqlite_synchronous),
            reader=_sqlite_engine(url, synchronous=sqlite_synchronous),
            sqlite_synchronous=sqlite_synchronous,
        )
    engine = create_async_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=10)
    return Database(writer=engine, reader=engine)


def configure_sqlite(dbapi_connection: Any, synchronous: str) -> None:
    """Settings of every SQLite connection, SQLAlchemy's and the ingest writer's."""
    if synchronous not in ("FULL", "NORMAL"):
        raise ValueError(f"sqlite synchronous must be FULL or NORMAL, not {synchronous!r}")
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    # FULL: each commit is on disk (fsync) before the client is answered; NORMAL: a
    # commit survives a crash of this process but not of the machine (WAL is synced
    # at checkpoints).
    cursor.execute(f"PRAGMA synchronous={synchronous}")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()
    # rollup_error's triggers call it (migration 0011): every connection that may write
    # error rows needs it, so every connection gets it.
    dbapi_connection.create_function(SQL_FUNCTION, 3, with_app_bit, deterministic=True)


def _sqlite_engine(url: str, writer: bool = False, synchronous: str = "FULL") -> AsyncEngine:
    if synchronous not in ("FULL", "NORMAL"):
        raise ValueError(f"sqlite synchronous must be FULL or NORMAL, not {synchronous!r}")
    options: dict[str, Any] = {"connect_args": {"timeout": 30}}
    if writer:
        options |= {"pool_size": 1, "max_overflow": 0}
    engine = create_async_engine(url, **options)

    @event.listens_for(engine.sync_engine, "connect")
    def _configure(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy, not the sqlite3 module, decide when transactions begin.
        dbapi_connection.isolation_level = None
        configure_sqlite(dbapi_connection, synchronous)

    @event.listens_for(engine.sync_engine, "begin")
    def _begin(connection: Any) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE" if writer else "BEGIN")

    return engine


def asyncpg_dsn(sqlalchemy_url: str) -> str:
    """``postgresql+asyncpg://…`` (SQLAlchemy) as the ``postgresql://…`` asyncpg takes."""
    url = make_url(sqlalchemy_url).set(drivername="postgresql")
    return url.render_as_string(hide_password=False)
