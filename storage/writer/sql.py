"""The ingest hot path's SQL as driver text, and its values as each driver binds them.

The writer talks to sqlite3 and asyncpg directly: going through SQLAlchemy cost more
per batch (bind processors per value, compiled-cache lookups) than the statements
themselves. Statements are built once per dialect from the SQLModel tables, so the
column lists cannot drift from the schema; values are converted the way the
SQLAlchemy column types would bind and return them (storage/model/types.py), so rows
written here read back identically through SQLAlchemy.

On SQLite every statement is one step: sqlite3 releases the GIL around each step and
the writer thread must win it back from the busy event loop each time (up to the
switch interval), so rows go in as one multi-row VALUES per chunk and come back as one
JSON row — never one step per row (executemany, RETURNING, fetchall of many rows).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Generator, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache, lru_cache
from itertools import chain
from typing import Any

import orjson
from sqlalchemy import JSON, BigInteger, Boolean, Integer, String, Table
from sqlalchemy.types import TypeDecorator

from ingest.merge import RunChange, RunState
from storage.model.rollup_spec import ROLLUP_KEYS, ROLLUP_MEASURES
from storage.model.tables import EVENT_COLUMNS, EVENTS, RUN_COLUMNS, RUNS
from storage.model.types import UTCDateTime, sqlite_datetime
from storage.writer.rollup_deltas import RollupRow

Row = tuple[Any, ...]
# What the merge reads back to re-fold a run from its stored events.
RUN_EVENT_COLUMNS = ("source", "raw", "received_at")


def json_text(value: Any) -> str:
    """JSON text of a stored ``raw`` body (orjson; json for ints beyond 64 bits)."""
    try:
        return orjson.dumps(value).decode()
    except TypeError:
        return json.dumps(value)


@dataclass(frozen=True, slots=True)
class Query:
    """A statement, and its parameters; the plan receives its rows."""

    sql: str
    params: tuple[Any, ...]


# What a plan yields to its driver; the driver sends back the rows.
Step = Query
Rows = Sequence[Sequence[Any]]


def _positions(table: Table, columns: Sequence[str], kind: type) -> tuple[int, ...]:
    return tuple(i for i, name in enumerate(columns) if isinstance(table.c[name].type, kind))


@dataclass(frozen=True, slots=True)
class IngestSql:
    """Every statement of one ingest batch, for one dialect."""

    dialect: str
    select_run_events: str
    to_stored: Callable[[Any], Any]  # a datetime as the driver binds it
    bucket_to_stored: Callable[[Any], Any]  # the same, for the few rollup bucket starts
    from_stored: Callable[[Any], Any]  # a stored datetime as an aware UTC datetime

    @property
    def is_postgresql(self) -> bool:
        return self.dialect == "postgresql"

    def read_batch(
        self, keys: list[str], run_ids: list[str]
    ) -> Generator[Step, Rows | None, tuple[set[str], list[RunState]]]:
        """The dedup keys among ``keys`` that are stored already, and the stored runs
        among ``run_ids`` (as the merge's RunState)."""
        if self.is_postgresql:
            known: set[str] = set()
            runs: list[RunState] = []
            for row in (yield Query(_POSTGRES_READ_BATCH, (keys, run_ids))) or ():
                if row[0] is None:
                    runs.append(self.run_state(row[1:]))
                else:
                    known.add(row[0])
            return known, runs
        returned = yield Query(
            _SQLITE_KNOWN_KEYS, (orjson.dumps(run_ids).decode(), orjson.dumps(keys).decode())
        )
        known = set(orjson.loads(returned[0][0])) if returned else set()
        returned = yield Query(_SQLITE_SELECT_RUNS, (orjson.dumps(run_ids).decode(),))
        stored = orjson.loads(returned[0][0]) if returned else []
        return known, [self.run_state(row) for row in stored]

    def _event_row(self, event: dict[str, Any]) -> Row:
        values = [event[name] for name in EVENT_COLUMNS]
        for index in _EVENT_DATETIMES:
            values[index] = self.to_stored(values[index])
        values[_EVENT_RAW] = json_text(values[_EVENT_RAW])
        return tuple(values)

    def write_steps(
        self,
        events: Sequence[dict[str, Any]],
        changes: Sequence[RunChange],
        rollups: dict[Table, list[RollupRow]],
        notify: tuple[str, list[str]] | None = None,
    ) -> list[Step]:
        """Insert the new events, upsert the merged runs, add the rollup deltas and
        (PostgreSQL) notify ``(channel, payloads)``. SQLite gets a few multi-row
        statements inside its BEGIN IMMEDIATE. PostgreSQL gets one statement for all of
        it — each table's rows as one array per column (unnest), the tables as
        data-modifying CTEs — run on its own, so it commits as it ends: no BEGIN, no
        COMMIT, one round trip. It is also the check that nothing moved since the
        batch was read (``read_versions``: each run's event count then, 0 for a new
        run): should another writer have stored one of the events or changed one of
        the runs, fewer rows are written than sent and the statement fails with
        WRITE_CONFLICT, storing nothing."""
        rollup_tables = [
            (table, [self._rollup_row(table, row) for row in rollups.get(table, ())])
            for table in ROLLUP_KEYS
        ]
        event_rows = [self._event_row(event) for event in events]
        if not self.is_postgresql:
            upserts = _upserts("sqlite")
            steps = list(_sqlite_inserts(upserts[EVENTS], _width(EVENTS), event_rows))
            steps += self._sqlite_run_steps(changes)
            for table, rows in rollup_tables:
                steps += _sqlite_inserts(upserts[table], _width(table), rows)
            return steps
        runs = [change.after for change in changes]
        read_versions = [
            0 if change.before is None else change.before["event_count"] for change in changes
        ]
        tables = [(EVENTS, event_rows), (RUNS, [self._run_row(run) for run in runs])]
        tables += rollup_tables
        assert [table for table, _ in tables] == list(_WRITTEN)
        params: list[Any] = []
        for table, rows in tables:
            columns = list(zip(*rows, strict=True)) if rows else [()] * _width(table)
            params.extend(list(column) for column in columns)
        channel, payloads = notify if notify is not None else ("", [])
        ids = [run["id"] for run in runs]
        params += [ids, list(read_versions), len(events), len(runs), channel, payloads]
        return [Query(_postgres_writes(), tuple(params))]

    def _sqlite_run_steps(self, changes: Sequence[RunChange]) -> list[Step]:
        """New runs inserted whole; a stored run updated in the columns the batch changed,
        runs that changed the same columns in one statement. SQLite rewrites the index
        entries of every column a statement assigns, whatever the value: assigning all
        46 moved all five secondary indexes for a progress ping, which changes one."""
        new: list[Row] = []
        by_columns: dict[tuple[str, ...], list[Row]] = {}
        for change in changes:
            before, after = change.before, change.after
            if before is None:
                new.append(self._run_row(after))
                continue
            changed = tuple(name for name in _RUN_UPDATED if after[name] != before[name])
            if changed:
                row = (after["id"], *(self._stored(name, after[name]) for name in changed))
                by_columns.setdefault(changed, []).append(row)
        steps = list(_sqlite_inserts(_upserts("sqlite")[RUNS], _width(RUNS), new))
        for columns, rows in by_columns.items():
            steps += _sqlite_inserts(_sqlite_run_update(columns), len(columns) + 1, rows)
        return steps

    def _stored(self, name: str, value: Any) -> Any:
        return self.to_stored(value) if name in _RUN_DATETIME_NAMES else value

    def _run_row(self, run: dict[str, Any]) -> Row:
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

    def _rollup_row(self, table: Table, row: RollupRow) -> Row:
        index = _ROLLUP_BUCKET[table]
        return (*row[:index], self.bucket_to_stored(row[index]), *row[index + 1 :])


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
        select_run_events=(
            f"SELECT {', '.join(RUN_EVENT_COLUMNS)} FROM events WHERE run_id = "
            f"{'$1' if postgresql else '?'}"
        ),
        to_stored=_identity if postgresql else sqlite_datetime,
        bucket_to_stored=_identity if postgresql else lru_cache(maxsize=4096)(sqlite_datetime),
        from_stored=_postgres_from_stored if postgresql else _sqlite_from_stored,
    )


# PostgreSQL reads planned for the keys at hand each time (migration 0009), with
# runs then known keys as rows: (NULL, a stored run) or (a stored key, NULLs).
_POSTGRES_READ_BATCH = (
    f"SELECT NULL AS known, {', '.join(f'runs.{name}' for name in RUN_COLUMNS)} "
    "FROM installstats_runs($2::text[]) AS runs UNION ALL "
    f"SELECT key, {', '.join('NULL' for _ in RUN_COLUMNS)} "
    "FROM installstats_known_keys($2::text[], $1::text[]) AS key"
)
# The SQLSTATE of a PostgreSQL write that found a run or an event changed since the
# batch was read (installstats_check_writes, migration 0009): the batch is read again.
WRITE_CONFLICT = "40001"
# Two writers' statements can also lock the same rows in opposite orders (a batch's
# error rows move rollup_error_code rows through triggers, migration 0011); PostgreSQL
# then fails one of them whole (40P01), and it is merged and written again like a
# WRITE_CONFLICT.
DEADLOCK = "40P01"


# SQLite reads come back as one row holding a JSON array (one step, see the docstring).
_SQLITE_KNOWN_KEYS = (
    "SELECT json_group_array(dedup_key) FROM events "
    "WHERE run_id IN (SELECT value FROM json_each(?)) "
    "AND dedup_key IN (SELECT value FROM json_each(?))"
)
_SQLITE_SELECT_RUNS = (
    f"SELECT json_group_array(json_array({', '.join(RUN_COLUMNS)})) FROM runs "
    "WHERE id IN (SELECT value FROM json_each(?))"
)
# Where a SQLite template takes its VALUES rows.
ROWS = "{rows}"
# Rows per SQLite statement at most: 512 runs of 46 columns stay under SQLite's 32766
# parameters.
SQLITE_CHUNK_ROWS = 512


def _sqlite_inserts(template: str, width: int, rows: Sequence[Row]) -> Iterator[Query]:
    """``rows`` as multi-row VALUES statements, each one SQLite step. Chunks are
    powers of two (40 rows: 32 + 8), so a handful of prepared statements per table
    serve every batch size from sqlite3's statement cache."""
    done = 0
    while done < len(rows):
        size = min(SQLITE_CHUNK_ROWS, 1 << (len(rows) - done).bit_length() - 1)
        chunk = rows[done : done + size]
        yield Query(_sqlite_statement(template, width, size), tuple(chain.from_iterable(chunk)))
        done += size


@cache
def _sqlite_statement(template: str, width: int, count: int) -> str:
    row = f"({', '.join('?' * width)})"
    return template.replace(ROWS, ", ".join([row] * count))


@lru_cache(maxsize=256)
def _sqlite_run_update(columns: tuple[str, ...]) -> str:
    """An UPDATE of ``columns`` of the runs in a VALUES list of (id, columns…)."""
    sets = ", ".join(f"{name} = batch.column{n}" for n, name in enumerate(columns, 2))
    return f"UPDATE runs SET {sets} FROM (VALUES {ROWS}) AS batch WHERE runs.id = batch.column1"


@cache
def _upserts(dialect: str) -> dict[Table, str]:
    """The insert or upsert of each written table; PostgreSQL's parameters numbered on
    from the previous table's, for the combined statement."""
    statements: dict[Table, str] = {}
    start = 1
    for table, (keys, others) in _WRITTEN.items():
        if table is EVENTS:
            statements[table] = _insert_events(dialect, start)
        else:
            update = _replace if table is RUNS else _add
            statements[table] = _upsert(dialect, table, keys, others, update, start)
        start += len(keys) + len(others)
    return statements


def _insert_events(dialect: str, start: int) -> str:
    """Events whose dedup key is stored already are skipped (ON CONFLICT)."""
    names = ", ".join(EVENT_COLUMNS)
    if dialect == "sqlite":
        return (
            f"INSERT INTO events ({names}) VALUES {ROWS} ON CONFLICT (run_id, dedup_key) DO NOTHING"
        )
    arrays = ", ".join(
        f"${n}::{'text' if name == 'raw' else _postgres_type(EVENTS, name)}[]"
        for n, name in enumerate(EVENT_COLUMNS, start)
    )
    selected = ", ".join(f"{name}::json" if name == "raw" else name for name in EVENT_COLUMNS)
    return (
        f"INSERT INTO events ({names}) SELECT {selected} FROM unnest({arrays}) "
        f"AS batch({names}) ON CONFLICT (run_id, dedup_key) DO NOTHING RETURNING run_id"
    )


@cache
def _postgres_writes() -> str:
    """Every table of a batch in one statement; a run is updated only if its event
    count is still the one read (else another writer merged it meanwhile), and
    installstats_check_writes fails the statement unless every event and run sent
    was written."""
    upserts = _upserts("postgresql")
    n = sum(len(keys) + len(others) for keys, others in _WRITTEN.values())
    expected = f"SELECT * FROM unnest(${n + 1}::text[], ${n + 2}::integer[]) AS read(id, version)"
    guarded = upserts[RUNS] + (
        " WHERE runs.event_count = "
        "(SELECT read.version FROM read_versions AS read WHERE read.id = excluded.id) "
        "RETURNING id"
    )
    written = ",\n".join(
        f"{table.name}_written AS ({guarded if table is RUNS else sql})"
        for table, sql in upserts.items()
    )
    check = (
        "installstats_check_writes("
        f"(SELECT count(*) FROM events_written) = ${n + 3} "
        f"AND (SELECT count(*) FROM runs_written) = ${n + 4})"
    )
    notify = f"SELECT count(pg_notify(${n + 5}, payload)) FROM unnest(${n + 6}::text[]) AS payload"
    return f"WITH read_versions AS ({expected}),\n{written}\nSELECT {check}, ({notify})"


def _width(table: Table) -> int:
    keys, others = _WRITTEN[table]
    return len(keys) + len(others)


def _replace(table: Table, name: str) -> str:
    return f"{name} = excluded.{name}"


def _add(table: Table, name: str) -> str:
    return f"{name} = {table.name}.{name} + excluded.{name}"


def _upsert(
    dialect: str,
    table: Table,
    keys: tuple[str, ...],
    others: tuple[str, ...],
    update: Callable[[Table, str], str],
    start: int = 1,
) -> str:
    """Insert rows, or update the others columns of the row with the same keys
    (SQLite: a template, see ``_sqlite_inserts``)."""
    columns = keys + others
    names = ", ".join(columns)
    if dialect == "postgresql":
        arrays = ", ".join(
            f"${n}::{_postgres_type(table, name)}[]" for n, name in enumerate(columns, start)
        )
        source = f"SELECT * FROM unnest({arrays})"
    else:
        source = f"VALUES {ROWS}"
    sets = ", ".join(update(table, name) for name in others)
    return (
        f"INSERT INTO {table.name} ({names}) {source} "
        f"ON CONFLICT ({', '.join(keys)}) DO UPDATE SET {sets}"
    )


def _postgres_type(table: Table, name: str) -> str:
    """The PostgreSQL type of a column, as the element type of an array parameter."""
    column_type = table.c[name].type
    if isinstance(column_type, UTCDateTime):
        return "timestamptz"
    if isinstance(column_type, TypeDecorator):  # SQLModel's AutoString
        column_type = column_type.impl_instance
    if isinstance(column_type, Boolean):
        return "boolean"
    if isinstance(column_type, BigInteger):
        return "bigint"
    if isinstance(column_type, Integer):
        return "integer"
    if isinstance(column_type, JSON):
        return "json"
    if isinstance(column_type, String):  # String, Text and SQLModel's AutoString
        return "text"
    raise TypeError(f"no PostgreSQL array type for {table.name}.{name} ({column_type!r})")


_EVENT_DATETIMES = _positions(EVENTS, EVENT_COLUMNS, UTCDateTime)
_EVENT_RAW = EVENT_COLUMNS.index("raw")
assert _positions(EVENTS, EVENT_COLUMNS, JSON) == (_EVENT_RAW,)
_RUN_DATETIMES = _positions(RUNS, RUN_COLUMNS, UTCDateTime)
_RUN_DATETIME_NAMES = tuple(RUN_COLUMNS[i] for i in _RUN_DATETIMES)
_RUN_BOOLEAN_NAMES = tuple(RUN_COLUMNS[i] for i in _positions(RUNS, RUN_COLUMNS, Boolean))
_RUN_UPDATED = RUN_COLUMNS[1:]  # every column but the id
# The tables a batch writes, in statement order, with their key and updated columns.
_WRITTEN: dict[Table, tuple[tuple[str, ...], tuple[str, ...]]] = {
    EVENTS: (
        ("run_id", "dedup_key"),
        tuple(name for name in EVENT_COLUMNS if name not in ("run_id", "dedup_key")),
    ),
    RUNS: (("id",), RUN_COLUMNS[1:]),
    **{table: (ROLLUP_KEYS[table], ROLLUP_MEASURES[table]) for table in ROLLUP_KEYS},
}
_ROLLUP_BUCKET = {table: ROLLUP_KEYS[table].index("bucket_start") for table in ROLLUP_KEYS}
