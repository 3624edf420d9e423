"""SQL behind the previous service's reads (``GET /data/*``): runs as old records.

The previous service stored one record per install and answered with those records
and a few counts. Here a record is one **install** run (updates are their own kind of
run, which that service never had, so they would pass for installs in its shapes).
Every read is bounded by a limit; lists are newest first (start time, then id).

Text ties are broken byte-wise (``COLLATE "C"`` on PostgreSQL, ``BINARY`` on SQLite):
the database's default collation may order text differently, and both stores must
give the same answer.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from storage.analytics.filters import time_conditions
from storage.model.tables import RUNS

LEGACY_KIND = "INSTALL"

# Old record key -> runs column, in the old service's key order.
RECORD_COLUMNS: dict[str, str] = {
    "id": "id",
    "ct_type": "ct_type",
    "disk_size": "disk_gb",
    "core_count": "cores",
    "ram_size": "ram_mb",
    "os_type": "os_type",
    "os_version": "os_version",
    "disableip6": "disableip6",
    "nsapp": "app",
    "method": "method",
    "created_at": "started_at",
    "pve_version": "pve_version",
    "status": "status",
    "random_id": "session_id",
    "type": "type",
    "error": "error",
}

Record = dict[str, Any]
Condition = ColumnElement[bool]


def app_is(app: str) -> list[Condition]:
    return [RUNS.c.app == app]


def status_is(status: str) -> list[Condition]:
    return [RUNS.c.status == status]


def os_is(os_type: str, os_version: str | None) -> list[Condition]:
    conditions = [RUNS.c.os_type == os_type]
    if os_version is not None:
        conditions.append(RUNS.c.os_version == os_version)
    return conditions


def started_in(since: datetime, until: datetime | None) -> list[Condition]:
    """Start time in [since, until); until None: no upper bound."""
    return time_conditions(since, until)


async def fetch_records(
    conn: AsyncConnection, *, where: Sequence[Condition] = (), limit: int, offset: int = 0
) -> list[Record]:
    """At most ``limit`` install runs, newest first, keyed by the old record keys."""
    columns = [RUNS.c[column].label(key) for key, column in RECORD_COLUMNS.items()]
    statement = (
        select(*columns)
        .where(RUNS.c.kind == LEGACY_KIND, *where)
        .order_by(RUNS.c.started_at.desc(), _bytewise(conn, RUNS.c.id).desc())
        .limit(limit)
        .offset(offset)
    )
    return [dict(row._mapping) for row in await conn.execute(statement)]


async def status_counts(conn: AsyncConnection, *, top: int) -> list[tuple[str, int]]:
    """Install runs per raw status (``done``, ``installing``, ``failed`` …), most first.

    No rollup keeps the raw status (rollups hold the normalised outcome), so this groups
    the runs table; the raw statuses are a handful of values.
    """
    count = func.count()
    statement = (
        select(RUNS.c.status, count)
        .where(RUNS.c.kind == LEGACY_KIND)
        .group_by(RUNS.c.status)
        .order_by(count.desc(), _bytewise(conn, RUNS.c.status))
        .limit(top)
    )
    return [(str(status), int(n)) for status, n in await conn.execute(statement)]


async def error_counts(conn: AsyncConnection, *, top: int, chars: int) -> list[tuple[str, int]]:
    """Install runs per whole stored error text, most first; each text cut to ``chars``.

    Grouping by the whole text is what the previous service did; two texts that share
    their first ``chars`` characters stay two entries.
    """
    count = func.count()
    statement = (
        select(func.substr(RUNS.c.error, 1, chars), count)
        .where(RUNS.c.kind == LEGACY_KIND, RUNS.c.error.is_not(None))
        .group_by(RUNS.c.error)
        .order_by(count.desc(), _bytewise(conn, RUNS.c.error))
        .limit(top)
    )
    return [(str(error), int(n)) for error, n in await conn.execute(statement)]


def _bytewise(conn: AsyncConnection, column: ColumnElement[Any]) -> ColumnElement[Any]:
    """The column in code-point order on both stores, whatever the default collation."""
    return column.collate("C" if conn.dialect.name == "postgresql" else "BINARY")
