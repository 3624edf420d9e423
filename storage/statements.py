"""Upsert statements of the ingest hot path, built once per dialect and table.

Building an ON CONFLICT statement (its ``excluded`` columns) costs more than running
it for a small batch; built once, SQLAlchemy's compiled cache does the rest.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache
from typing import Any

from sqlalchemy import Table
from sqlalchemy.dialects import postgresql, sqlite


def _insert(dialect: str, table: Table) -> Any:
    return (postgresql.insert if dialect == "postgresql" else sqlite.insert)(table)


@cache
def upsert_replacing(dialect: str, table: Table, key: str) -> Any:
    """Insert rows, or overwrite every other column of the row with the same key."""
    statement = _insert(dialect, table)
    return statement.on_conflict_do_update(
        index_elements=[table.c[key]],
        set_={c.name: statement.excluded[c.name] for c in table.columns if c.name != key},
    )


@cache
def upsert_adding(dialect: str, table: Table, measures: Sequence[str]) -> Any:
    """Insert counter rows, or add to the counters of the row with the same key."""
    statement = _insert(dialect, table)
    return statement.on_conflict_do_update(
        index_elements=list(table.primary_key.columns),
        set_={name: table.c[name] + statement.excluded[name] for name in measures},
    )


@cache
def insert_new(dialect: str, table: Table, unique: str, returning: str) -> Any:
    """Insert rows whose ``unique`` value is new; RETURNING says which were."""
    return (
        _insert(dialect, table)
        .on_conflict_do_nothing(index_elements=[table.c[unique]])
        .returning(table.c[returning])
    )
