"""The ingest batch's SQL on SQLite: a few multi-row statements, each one step.

sqlite3 releases the GIL around each step and the writer thread must win it back from
the busy event loop each time (up to the switch interval), so rows go in as one
multi-row VALUES per chunk and come back as one JSON row — never one step per row
(executemany, RETURNING, fetchall of many rows). The driver wraps a batch's steps in
BEGIN IMMEDIATE … COMMIT.
"""

from __future__ import annotations

from collections.abc import Generator, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from functools import cache, lru_cache
from itertools import chain
from typing import Any

import orjson
from sqlalchemy import Table

from ingest.merge import RunChange
from ingest.run_record import RunRecord
from storage.model.rollup_spec import ROLLUP_KEYS
from storage.model.tables import EVENT_COLUMNS, EVENTS, RUN_COLUMNS, RUNS
from storage.model.types import sqlite_datetime
from storage.writer.rollup_deltas import RollupRow
from storage.writer.sql_common import (
    EVENT_DATETIMES,
    EVENT_RAW,
    ROLLUP_BUCKET,
    RUN_DATETIME_NAMES,
    RUN_DATETIMES,
    RUN_EVENT_COLUMNS,
    RUN_UPDATED,
    WRITTEN,
    IngestSql,
    Query,
    Row,
    Rows,
    Step,
    json_text,
    upsert,
    width,
)

# Where a statement template takes its VALUES rows.
ROWS = "{rows}"
# Rows per statement at most: 512 runs of 46 columns stay under SQLite's 32766
# parameters.
SQLITE_CHUNK_ROWS = 512
# Reads come back as one row holding a JSON array (one step, see the docstring).
KNOWN_KEYS = (
    "SELECT json_group_array(dedup_key) FROM events "
    "WHERE run_id IN (SELECT value FROM json_each(?)) "
    "AND dedup_key IN (SELECT value FROM json_each(?))"
)
SELECT_RUNS = (
    f"SELECT json_group_array(json_array({', '.join(RUN_COLUMNS)})) FROM runs "
    "WHERE id IN (SELECT value FROM json_each(?))"
)
SELECT_RUN_EVENTS = f"SELECT {', '.join(RUN_EVENT_COLUMNS)} FROM events WHERE run_id = ?"
# The insert (events: skipped when the dedup key is stored already) or upsert of each
# written table, as a template for its VALUES rows.
INSERTS: dict[Table, str] = {
    EVENTS: (
        f"INSERT INTO events ({', '.join(EVENT_COLUMNS)}) VALUES {ROWS} "
        "ON CONFLICT (run_id, dedup_key) DO NOTHING"
    ),
    **{table: upsert(table, f"VALUES {ROWS}") for table in WRITTEN if table is not EVENTS},
}
# A rollup bucket start as stored: a batch's rows share a handful of them.
_bucket_text = lru_cache(maxsize=4096)(sqlite_datetime)


class SqliteIngestSql(IngestSql):
    dialect = "sqlite"
    select_run_events = SELECT_RUN_EVENTS

    @staticmethod
    def from_stored(value: Any) -> Any:
        return None if value is None else datetime.fromisoformat(value).replace(tzinfo=UTC)

    def read_batch(
        self, keys: list[str], run_ids: list[str]
    ) -> Generator[Step, Rows | None, tuple[set[str], list[RunRecord]]]:
        returned = yield Query(
            KNOWN_KEYS, (orjson.dumps(run_ids).decode(), orjson.dumps(keys).decode())
        )
        known = set(orjson.loads(returned[0][0])) if returned else set()
        returned = yield Query(SELECT_RUNS, (orjson.dumps(run_ids).decode(),))
        stored = orjson.loads(returned[0][0]) if returned else []
        return known, [self.run_state(row) for row in stored]

    def write_steps(
        self,
        events: Sequence[dict[str, Any]],
        changes: Sequence[RunChange],
        rollups: dict[Table, list[RollupRow]],
        notify: tuple[str, list[str]] | None = None,
    ) -> list[Step]:
        """The events, the runs, then each rollup's deltas, as multi-row statements
        inside the driver's BEGIN IMMEDIATE. ``notify`` is for PostgreSQL only (a
        SQLite store has one process, which tells its listeners itself)."""
        steps = list(_inserts(INSERTS[EVENTS], width(EVENTS), [_event_row(e) for e in events]))
        steps += _run_steps(changes)
        for table in ROLLUP_KEYS:
            rows = [_rollup_row(table, row) for row in rollups.get(table, ())]
            steps += _inserts(INSERTS[table], width(table), rows)
        return steps


def _run_steps(changes: Sequence[RunChange]) -> list[Step]:
    """New runs inserted whole; a stored run updated in the columns the batch changed,
    runs that changed the same columns in one statement. SQLite rewrites the index
    entries of every column a statement assigns, whatever the value: assigning all
    46 moved all five secondary indexes for a progress ping, which changes one."""
    new: list[Row] = []
    by_columns: dict[tuple[str, ...], list[Row]] = {}
    for change in changes:
        # Read by column name: a RunRecord types only the keys it spells out.
        before: Mapping[str, Any] | None = change.before
        after: Mapping[str, Any] = change.after
        if before is None:
            new.append(_run_row(after))
            continue
        changed = tuple(name for name in RUN_UPDATED if after[name] != before[name])
        if changed:
            row = (after["id"], *(_stored(name, after[name]) for name in changed))
            by_columns.setdefault(changed, []).append(row)
    steps = list(_inserts(INSERTS[RUNS], width(RUNS), new))
    for columns, rows in by_columns.items():
        steps += _inserts(_run_update(columns), len(columns) + 1, rows)
    return steps


def _inserts(template: str, row_width: int, rows: Sequence[Row]) -> Iterator[Query]:
    """``rows`` as multi-row VALUES statements, each one SQLite step. Chunks are
    powers of two (40 rows: 32 + 8), so a handful of prepared statements per table
    serve every batch size from sqlite3's statement cache."""
    done = 0
    while done < len(rows):
        size = min(SQLITE_CHUNK_ROWS, 1 << (len(rows) - done).bit_length() - 1)
        chunk = rows[done : done + size]
        yield Query(_statement(template, row_width, size), tuple(chain.from_iterable(chunk)))
        done += size


@cache
def _statement(template: str, row_width: int, count: int) -> str:
    row = f"({', '.join('?' * row_width)})"
    return template.replace(ROWS, ", ".join([row] * count))


@lru_cache(maxsize=256)
def _run_update(columns: tuple[str, ...]) -> str:
    """An UPDATE of ``columns`` of the runs in a VALUES list of (id, columns…)."""
    sets = ", ".join(f"{name} = batch.column{n}" for n, name in enumerate(columns, 2))
    return f"UPDATE runs SET {sets} FROM (VALUES {ROWS}) AS batch WHERE runs.id = batch.column1"


def _event_row(event: Mapping[str, Any]) -> Row:
    values = [event[name] for name in EVENT_COLUMNS]
    for index in EVENT_DATETIMES:
        values[index] = sqlite_datetime(values[index])
    values[EVENT_RAW] = json_text(values[EVENT_RAW])
    return tuple(values)


def _run_row(run: Mapping[str, Any]) -> Row:
    values = [run[name] for name in RUN_COLUMNS]
    for index in RUN_DATETIMES:
        values[index] = sqlite_datetime(values[index])
    return tuple(values)


def _stored(name: str, value: Any) -> Any:
    return sqlite_datetime(value) if name in RUN_DATETIME_NAMES else value


def _rollup_row(table: Table, row: RollupRow) -> Row:
    index = ROLLUP_BUCKET[table]
    return (*row[:index], _bucket_text(row[index]), *row[index + 1 :])
