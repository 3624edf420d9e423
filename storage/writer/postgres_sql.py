"""The ingest batch's SQL on PostgreSQL: one read, then one statement for every write.

Each table's rows go in as one array per column (unnest), the tables as data-modifying
CTEs of one statement, run on its own so that it commits as it ends: no BEGIN, no
COMMIT, one round trip. It is also the check that nothing moved since the batch was
read (``read_versions``: each run's event count then, 0 for a new run): should another
writer have stored one of the events or changed one of the runs, fewer rows are
written than sent and the statement fails with WRITE_CONFLICT, storing nothing.
"""

from __future__ import annotations

from collections.abc import Generator, Mapping, Sequence
from datetime import UTC
from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, Integer, String, Table
from sqlalchemy.types import TypeDecorator

from ingest.merge import RunChange
from ingest.run_record import RunRecord
from storage.model.rollup_spec import ROLLUP_KEYS
from storage.model.tables import EVENT_COLUMNS, EVENTS, RUN_COLUMNS, RUNS
from storage.model.types import UTCDateTime
from storage.writer.rollup_deltas import RollupRow
from storage.writer.sql_common import (
    EVENT_RAW,
    RUN_EVENT_COLUMNS,
    WRITTEN,
    IngestSql,
    Query,
    Rows,
    Step,
    json_text,
    upsert,
    width,
)

# The SQLSTATE of a write that found a run or an event changed since the batch was
# read (installstats_check_writes, migration 0009): the batch is read again.
WRITE_CONFLICT = "40001"
# Two writers' statements can also lock the same rows in opposite orders (a batch's
# error rows move rollup_error_code rows through triggers, migration 0011); PostgreSQL
# then fails one of them whole (40P01), and it is merged and written again like a
# WRITE_CONFLICT.
DEADLOCK = "40P01"
# The reads, planned for the keys at hand each time (migration 0009), with runs then
# known keys as rows: (NULL, a stored run) or (a stored key, NULLs).
READ_BATCH = (
    f"SELECT NULL AS known, {', '.join(f'runs.{name}' for name in RUN_COLUMNS)} "
    "FROM installstats_runs($2::text[]) AS runs UNION ALL "
    f"SELECT key, {', '.join('NULL' for _ in RUN_COLUMNS)} "
    "FROM installstats_known_keys($2::text[], $1::text[]) AS key"
)
SELECT_RUN_EVENTS = f"SELECT {', '.join(RUN_EVENT_COLUMNS)} FROM events WHERE run_id = $1"
# Sent after the tables' columns, in this order, with the write statement.
WRITE_TRAILER = ("run ids", "read versions", "events sent", "runs sent", "channel", "payloads")
assert list(WRITTEN) == [EVENTS, RUNS, *ROLLUP_KEYS], "write_steps sends the tables in this order"


class Params:
    """Hands out numbered placeholders ($1, $2, …) in the order the values are sent,
    so that no part of a statement numbers its parameters by hand."""

    def __init__(self) -> None:
        self.count = 0

    def take(self, cast: str = "") -> str:
        """The next placeholder, with ``cast`` (such as ``::text[]``) appended."""
        self.count += 1
        return f"${self.count}{cast}"


class PostgresIngestSql(IngestSql):
    dialect = "postgresql"
    select_run_events = SELECT_RUN_EVENTS

    def __init__(self) -> None:
        self._writes, self._write_params = _writes()

    @staticmethod
    def from_stored(value: Any) -> Any:
        return None if value is None else value.astimezone(UTC)

    def read_batch(
        self, keys: list[str], run_ids: list[str]
    ) -> Generator[Step, Rows | None, tuple[set[str], list[RunRecord]]]:
        known: set[str] = set()
        runs: list[RunRecord] = []
        for row in (yield Query(READ_BATCH, (keys, run_ids))) or ():
            if row[0] is None:
                runs.append(self.run_state(row[1:]))
            else:
                known.add(row[0])
        return known, runs

    def write_steps(
        self,
        events: Sequence[dict[str, Any]],
        changes: Sequence[RunChange],
        rollups: dict[Table, list[RollupRow]],
        notify: tuple[str, list[str]] | None = None,
    ) -> list[Step]:
        """One statement: each table's columns as arrays, then WRITE_TRAILER."""
        runs: list[Mapping[str, Any]] = [change.after for change in changes]
        read_versions = [
            0 if change.before is None else change.before["event_count"] for change in changes
        ]
        params: list[Any] = [[event[name] for event in events] for name in EVENT_COLUMNS]
        params[EVENT_RAW] = [json_text(raw) for raw in params[EVENT_RAW]]
        params += [[run[name] for run in runs] for name in RUN_COLUMNS]
        for table in ROLLUP_KEYS:
            rows = rollups.get(table, ())
            columns = zip(*rows, strict=True) if rows else [()] * width(table)
            params.extend(list(column) for column in columns)
        channel, payloads = notify if notify is not None else ("", [])
        ids = [run["id"] for run in runs]
        params += [ids, read_versions, len(events), len(runs), channel, payloads]
        assert len(params) == self._write_params
        return [Query(self._writes, tuple(params))]


def _writes() -> tuple[str, int]:
    """Every table of a batch in one statement, and how many parameters it takes; a run
    is updated only if its event count is still the one read (else another writer
    merged it meanwhile), and installstats_check_writes fails the statement unless
    every event and run sent was written."""
    params = Params()
    written = {table: _write(table, params) for table in WRITTEN}
    ids, versions = params.take("::text[]"), params.take("::integer[]")
    events_sent, runs_sent = params.take(), params.take()
    channel, payloads = params.take(), params.take("::text[]")
    assert params.count == sum(map(width, WRITTEN)) + len(WRITE_TRAILER)
    ctes = ",\n".join(f"{table.name}_written AS ({sql})" for table, sql in written.items())
    check = (
        "installstats_check_writes("
        f"(SELECT count(*) FROM events_written) = {events_sent} "
        f"AND (SELECT count(*) FROM runs_written) = {runs_sent})"
    )
    notify = f"SELECT count(pg_notify({channel}, payload)) FROM unnest({payloads}) AS payload"
    read = f"SELECT * FROM unnest({ids}, {versions}) AS read(id, version)"
    return f"WITH read_versions AS ({read}),\n{ctes}\nSELECT {check}, ({notify})", params.count


def _write(table: Table, params: Params) -> str:
    """The insert or upsert of one table from one array parameter per column. Events
    whose dedup key is stored already are skipped (ON CONFLICT); a run is updated only
    if its event count is the one read."""
    keys, others = WRITTEN[table]
    if table is EVENTS:
        names = ", ".join(EVENT_COLUMNS)
        arrays = ", ".join(
            params.take(f"::{'text' if name == 'raw' else _array_type(EVENTS, name)}[]")
            for name in EVENT_COLUMNS
        )
        selected = ", ".join(f"{name}::json" if name == "raw" else name for name in EVENT_COLUMNS)
        return (
            f"INSERT INTO events ({names}) SELECT {selected} FROM unnest({arrays}) "
            f"AS batch({names}) ON CONFLICT (run_id, dedup_key) DO NOTHING RETURNING run_id"
        )
    arrays = ", ".join(params.take(f"::{_array_type(table, name)}[]") for name in keys + others)
    statement = upsert(table, f"SELECT * FROM unnest({arrays})")
    if table is RUNS:
        statement += (
            " WHERE runs.event_count = "
            "(SELECT read.version FROM read_versions AS read WHERE read.id = excluded.id) "
            "RETURNING id"
        )
    return statement


def _array_type(table: Table, name: str) -> str:
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
