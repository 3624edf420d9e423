"""The ingest hot path's SQL as driver text, and its values as each driver binds them.

The writer talks to sqlite3 and asyncpg directly: going through SQLAlchemy cost more
per batch (bind processors per value, compiled-cache lookups) than the statements
themselves. Statements are built once per dialect from the SQLModel tables, so the
column lists cannot drift from the schema; values are converted the way the
SQLAlchemy column types would bind and return them (storage/types.py), so rows
written here read back identically through SQLAlchemy.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from typing import Any

import orjson
from sqlalchemy import JSON, Boolean, Integer, Table

from storage.rollups import ROLLUP_KEYS, ROLLUP_MEASURES, RollupRow
from storage.tables import EVENTS, RUN_COLUMNS, RUNS
from storage.types import UTCDateTime, sqlite_datetime

Row = tuple[Any, ...]
EVENT_COLUMNS = tuple(column.name for column in EVENTS.columns if column.name != "id")
# What the merge reads back to re-fold a run from its stored events.
RUN_EVENT_COLUMNS = ("source", "raw", "received_at")


def json_text(value: Any) -> str:
    """JSON text of a stored ``raw`` body (orjson; json for ints beyond 64 bits)."""
    try:
        return orjson.dumps(value).decode()
    except TypeError:
        return json.dumps(value)


def _positions(table: Table, columns: Sequence[str], kind: type) -> tuple[int, ...]:
    return tuple(i for i, name in enumerate(columns) if isinstance(table.c[name].type, kind))


@dataclass(frozen=True, slots=True)
class IngestSql:
    """Every statement of one ingest batch, for one dialect."""

    dialect: str
    upsert_runs: str
    select_run_events: str
    upsert_rollup: dict[Table, str]
    to_stored: Callable[[Any], Any]  # a datetime as the driver binds it
    from_stored: Callable[[Any], Any]  # a stored datetime as an aware UTC datetime

    @property
    def is_postgresql(self) -> bool:
        return self.dialect == "postgresql"

    def insert_events(self, count: int) -> str:
        """INSERT of ``count`` events, skipping known dedup keys; RETURNING the new keys."""
        return _insert_events(self.dialect, count)

    def select_runs(self, count: int) -> str:
        return _select_runs(self.dialect, count)

    def event_params(self, events: Sequence[dict[str, Any]]) -> Row:
        """Parameters of ``insert_events``: flat on SQLite, one array per column on
        PostgreSQL (unnest)."""
        converted = [self._event_row(event) for event in events]
        if self.is_postgresql:
            return tuple(list(column) for column in zip(*converted, strict=True))
        return tuple(value for row in converted for value in row)

    def _event_row(self, event: dict[str, Any]) -> Row:
        values = [event[name] for name in EVENT_COLUMNS]
        for index in _EVENT_DATETIMES:
            values[index] = self.to_stored(values[index])
        values[_EVENT_RAW] = json_text(values[_EVENT_RAW])
        return tuple(values)

    def run_row(self, run: dict[str, Any]) -> Row:
        values = [run[name] for name in RUN_COLUMNS]
        for index in _RUN_DATETIMES:
            values[index] = self.to_stored(values[index])
        return tuple(values)

    def run_state(self, row: Sequence[Any]) -> dict[str, Any]:
        """A stored run as the merge's RunState (aware datetimes, booleans)."""
        run = dict(zip(RUN_COLUMNS, row, strict=True))
        for name in _RUN_DATETIME_NAMES:
            run[name] = self.from_stored(run[name])
        for name in _RUN_BOOLEAN_NAMES:
            if run[name] is not None:
                run[name] = bool(run[name])
        return run

    def rollup_row(self, table: Table, row: RollupRow) -> Row:
        index = _ROLLUP_BUCKET[table]
        return (*row[:index], self.to_stored(row[index]), *row[index + 1 :])


def _sqlite_from_stored(value: Any) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value).replace(tzinfo=UTC)


def _postgres_from_stored(value: Any) -> datetime | None:
    return None if value is None else value.astimezone(UTC)


def _identity(value: Any) -> Any:
    return value


@cache
def ingest_sql(dialect: str) -> IngestSql:
    if dialect not in ("sqlite", "postgresql"):
        raise ValueError(f"no ingest SQL for {dialect!r}")
    postgresql = dialect == "postgresql"
    return IngestSql(
        dialect=dialect,
        upsert_runs=_upsert_runs(dialect),
        select_run_events=(
            f"SELECT {', '.join(RUN_EVENT_COLUMNS)} FROM events WHERE run_id = "
            f"{'$1' if postgresql else '?'}"
        ),
        upsert_rollup={table: _upsert_rollup(dialect, table) for table in ROLLUP_KEYS},
        to_stored=_identity if postgresql else sqlite_datetime,
        from_stored=_postgres_from_stored if postgresql else _sqlite_from_stored,
    )


def _placeholders(dialect: str, count: int, start: int = 1) -> str:
    if dialect == "postgresql":
        return ", ".join(f"${n}" for n in range(start, start + count))
    return ", ".join("?" * count)


@cache
def _insert_events(dialect: str, count: int) -> str:
    names = ", ".join(EVENT_COLUMNS)
    if dialect == "postgresql":
        # One statement whatever the batch size: each column is one array parameter.
        arrays = ", ".join(
            f"${n}::{_POSTGRES_ARRAY[name]}[]" for n, name in enumerate(EVENT_COLUMNS, 1)
        )
        selected = ", ".join(f"{name}::json" if name == "raw" else name for name in EVENT_COLUMNS)
        source = f"SELECT {selected} FROM unnest({arrays}) AS batch({names})"
    else:
        row = f"({_placeholders(dialect, len(EVENT_COLUMNS))})"
        source = "VALUES " + ", ".join([row] * count)
    return (
        f"INSERT INTO events ({names}) {source} "
        "ON CONFLICT (dedup_key) DO NOTHING RETURNING dedup_key"
    )


@cache
def _select_runs(dialect: str, count: int) -> str:
    names = ", ".join(RUN_COLUMNS)
    if dialect == "postgresql":
        return f"SELECT {names} FROM runs WHERE id = ANY($1::text[])"
    return f"SELECT {names} FROM runs WHERE id IN ({_placeholders(dialect, count)})"


def _upsert_runs(dialect: str) -> str:
    names = ", ".join(RUN_COLUMNS)
    updates = ", ".join(f"{name} = excluded.{name}" for name in RUN_COLUMNS if name != "id")
    return (
        f"INSERT INTO runs ({names}) VALUES ({_placeholders(dialect, len(RUN_COLUMNS))}) "
        f"ON CONFLICT (id) DO UPDATE SET {updates}"
    )


def _upsert_rollup(dialect: str, table: Table) -> str:
    keys, measures = ROLLUP_KEYS[table], ROLLUP_MEASURES[table]
    columns = keys + measures
    adds = ", ".join(f"{m} = {table.name}.{m} + excluded.{m}" for m in measures)
    return (
        f"INSERT INTO {table.name} ({', '.join(columns)}) "
        f"VALUES ({_placeholders(dialect, len(columns))}) "
        f"ON CONFLICT ({', '.join(keys)}) DO UPDATE SET {adds}"
    )


# PostgreSQL array type of each event column, for the unnest insert.
_POSTGRES_ARRAY = {
    name: (
        "timestamptz"
        if isinstance(EVENTS.c[name].type, UTCDateTime)
        else "int"
        if isinstance(EVENTS.c[name].type, Integer)
        else "text"
    )
    for name in EVENT_COLUMNS
}
_EVENT_DATETIMES = _positions(EVENTS, EVENT_COLUMNS, UTCDateTime)
_EVENT_RAW = EVENT_COLUMNS.index("raw")
assert _positions(EVENTS, EVENT_COLUMNS, JSON) == (_EVENT_RAW,)
_RUN_DATETIMES = _positions(RUNS, RUN_COLUMNS, UTCDateTime)
_RUN_DATETIME_NAMES = tuple(RUN_COLUMNS[i] for i in _RUN_DATETIMES)
_RUN_BOOLEAN_NAMES = tuple(RUN_COLUMNS[i] for i in _positions(RUNS, RUN_COLUMNS, Boolean))
_ROLLUP_BUCKET = {table: ROLLUP_KEYS[table].index("bucket_start") for table in ROLLUP_KEYS}
