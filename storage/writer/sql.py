"""The ingest hot path's SQL, one class per dialect, and the names its callers use.

The statements and the conversions they need live in storage/writer/sqlite_sql.py and
storage/writer/postgres_sql.py, what both share in storage/writer/sql_common.py.
"""

from __future__ import annotations

from functools import cache

from storage.writer.postgres_sql import DEADLOCK, WRITE_CONFLICT, PostgresIngestSql
from storage.writer.sql_common import IngestSql, Query, Rows, Step
from storage.writer.sqlite_sql import SQLITE_CHUNK_ROWS, SqliteIngestSql

__all__ = [
    "DEADLOCK",
    "SQLITE_CHUNK_ROWS",
    "WRITE_CONFLICT",
    "IngestSql",
    "Query",
    "Rows",
    "Step",
    "ingest_sql",
]


@cache
def ingest_sql(dialect: str) -> IngestSql:
    """The statements of ``dialect`` ("sqlite" or "postgresql"), built once."""
    if dialect == "sqlite":
        return SqliteIngestSql()
    if dialect == "postgresql":
        return PostgresIngestSql()
    raise ValueError(f"no ingest SQL for {dialect!r}")
