"""What both dialects' ingest SQL share: the statement type, the written tables and
their columns, and a stored run read back as the merge's RunRecord.

The writer talks to sqlite3 and asyncpg directly: going through SQLAlchemy cost more
per batch (bind processors per value, compiled-cache lookups) than the statements
themselves. Statements are built once per dialect from the SQLModel tables, so the
column lists cannot drift from the schema; values are converted the way the
SQLAlchemy column types would bind and return them (storage/model/types.py), so rows
written here read back identically through SQLAlchemy. Each dialect's statements are
a class of their own: storage/writer/sqlite_sql.py and storage/writer/postgres_sql.py.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import Generator, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, cast

import orjson
from sqlalchemy import JSON, Boolean, Table

from ingest.merge import RunChange
from ingest.run_record import RunRecord
from storage.model.rollup_spec import ROLLUP_KEYS, ROLLUP_MEASURES
from storage.model.tables import EVENT_COLUMNS, EVENTS, RUN_COLUMNS, RUNS
from storage.model.types import UTCDateTime
from storage.writer.rollup_deltas import RollupRow

Row = tuple[Any, ...]
# What the merge reads back to re-fold a run from its stored events.
RUN_EVENT_COLUMNS = ("source", "raw", "received_at")
# The tables a batch writes, in statement order, with their key and updated columns.
WRITTEN: dict[Table, tuple[tuple[str, ...], tuple[str, ...]]] = {
    EVENTS: (
        ("run_id", "dedup_key"),
        tuple(name for name in EVENT_COLUMNS if name not in ("run_id", "dedup_key")),
    ),
    RUNS: (("id",), RUN_COLUMNS[1:]),
    **{table: (ROLLUP_KEYS[table], ROLLUP_MEASURES[table]) for table in ROLLUP_KEYS},
}
# Where the values a driver cannot take as they are sit in a row.
EVENT_DATETIMES = tuple(
    i for i, name in enumerate(EVENT_COLUMNS) if isinstance(EVENTS.c[name].type, UTCDateTime)
)
EVENT_RAW = EVENT_COLUMNS.index("raw")
assert [i for i, name in enumerate(EVENT_COLUMNS) if isinstance(EVENTS.c[name].type, JSON)] == [
    EVENT_RAW
]
RUN_DATETIMES = tuple(
    i for i, name in enumerate(RUN_COLUMNS) if isinstance(RUNS.c[name].type, UTCDateTime)
)
RUN_DATETIME_NAMES = tuple(RUN_COLUMNS[i] for i in RUN_DATETIMES)
RUN_BOOLEAN_NAMES = tuple(name for name in RUN_COLUMNS if isinstance(RUNS.c[name].type, Boolean))
RUN_UPDATED = RUN_COLUMNS[1:]  # every column but the id
ROLLUP_BUCKET = {table: ROLLUP_KEYS[table].index("bucket_start") for table in ROLLUP_KEYS}


@dataclass(frozen=True, slots=True)
class Query:
    """A statement, and its parameters; the plan receives its rows."""

    sql: str
    params: tuple[Any, ...]


# What a plan yields to its driver; the driver sends back the rows.
Step = Query
Rows = Sequence[Sequence[Any]]


def json_text(value: Any) -> str:
    """JSON text of a stored ``raw`` body (orjson; json for ints beyond 64 bits)."""
    try:
        return orjson.dumps(value).decode()
    except TypeError:
        return json.dumps(value)


def width(table: Table) -> int:
    keys, others = WRITTEN[table]
    return len(keys) + len(others)


def upsert(table: Table, source: str) -> str:
    """Insert the rows of ``source`` into ``table`` (not events), or update the row with
    the same keys: runs take the new values, rollups add their measures."""
    keys, others = WRITTEN[table]
    if table is RUNS:
        sets = ", ".join(f"{name} = excluded.{name}" for name in others)
    else:
        sets = ", ".join(f"{name} = {table.name}.{name} + excluded.{name}" for name in others)
    return (
        f"INSERT INTO {table.name} ({', '.join(keys + others)}) {source} "
        f"ON CONFLICT ({', '.join(keys)}) DO UPDATE SET {sets}"
    )


class IngestSql(ABC):
    """Every statement of one ingest batch, for one dialect."""

    dialect: ClassVar[str]
    # Reads a run's stored events, to fold it again from the start.
    select_run_events: ClassVar[str]

    @staticmethod
    @abstractmethod
    def from_stored(value: Any) -> Any:
        """A stored datetime as an aware UTC datetime (None for NULL)."""

    @abstractmethod
    def read_batch(
        self, keys: list[str], run_ids: list[str]
    ) -> Generator[Step, Rows | None, tuple[set[str], list[RunRecord]]]:
        """The dedup keys among ``keys`` that are stored already, and the stored runs
        among ``run_ids`` (as the merge's RunRecord)."""

    @abstractmethod
    def write_steps(
        self,
        events: Sequence[dict[str, Any]],
        changes: Sequence[RunChange],
        rollups: dict[Table, list[RollupRow]],
        notify: tuple[str, list[str]] | None = None,
    ) -> list[Step]:
        """Insert the new events, upsert the merged runs, add the rollup deltas and
        (PostgreSQL) notify ``(channel, payloads)``: the statements the driver runs
        as one transaction."""

    def run_state(self, row: Sequence[Any]) -> RunRecord:
        """A stored run as the merge's RunRecord (aware datetimes, booleans)."""
        run = cast(RunRecord, dict(zip(RUN_COLUMNS, row, strict=True)))
        for name in RUN_DATETIME_NAMES:
            run[name] = self.from_stored(run[name])  # type: ignore[literal-required]
        for name in RUN_BOOLEAN_NAMES:
            if run[name] is not None:  # type: ignore[literal-required]
                run[name] = bool(run[name])  # type: ignore[literal-required]
        return run
