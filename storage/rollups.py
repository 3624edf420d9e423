"""Keeping the rollups equal to the runs they summarise, inside the ingest transaction.

Every run contributes +1 run (and its event count) to one row per rollup and grain.
For a batch of run changes the net contribution (after − before) is summed per row in
Python and applied with one upsert per table, so a progress ping that only adds an
event touches two rows, and a run moving from in-progress to success moves its count.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from ingest.merge import RunChange
from storage.dimensions import DIMENSIONS, ROLLED_UP_DIMENSIONS, RunState
from storage.rollup_tables import ROLLUP_APP, ROLLUP_DIMENSION, ROLLUP_ERROR, ROLLUP_TOTAL

MISSING_TEXT = ""
MISSING_CODE = -1
GRAINS = ("h", "d")

Key = tuple[Any, ...]
Deltas = dict[Table, dict[Key, list[int]]]


def grain_start(moment: datetime, grain: str) -> datetime:
    if grain == "h":
        return moment.replace(minute=0, second=0, microsecond=0)
    return moment.replace(hour=0, minute=0, second=0, microsecond=0)


def _contributions(run: RunState) -> Iterable[tuple[Table, Key, list[int]]]:
    """Each rollup row the run counts in, with its measures (runs[, events])."""
    kind, outcome = run["kind"], run["outcome"]
    app = run["app"] or MISSING_TEXT
    events = run["event_count"]
    dimension_values = [
        (dimension.value, DIMENSIONS[dimension].key(run) or MISSING_TEXT)
        for dimension in ROLLED_UP_DIMENSIONS
    ]
    for grain in GRAINS:
        bucket = grain_start(run["started_at"], grain)
        yield ROLLUP_TOTAL, (grain, bucket, kind, outcome), [1, events]
        yield ROLLUP_APP, (grain, bucket, kind, app, outcome), [1, events]
        if outcome == "FAILED":
            code = MISSING_CODE if run["exit_code"] is None else run["exit_code"]
            category = run["error_category"] or MISSING_TEXT
            yield ROLLUP_ERROR, (grain, bucket, kind, app, code, category), [1]
        for name, value in dimension_values:
            yield ROLLUP_DIMENSION, (name, grain, bucket, kind, outcome, value), [1]


def rollup_deltas(changes: Sequence[RunChange]) -> Deltas:
    deltas: Deltas = defaultdict(dict)
    for change in changes:
        for sign, run in ((-1, change.before), (1, change.after)):
            if run is None:
                continue
            for table, key, measures in _contributions(run):
                row = deltas[table].setdefault(key, [0] * len(measures))
                for index, measure in enumerate(measures):
                    row[index] += sign * measure
    return deltas


async def apply_rollup_changes(conn: AsyncConnection, changes: Sequence[RunChange]) -> None:
    """The ingest hook: move every changed run's counts in the same transaction."""
    for table, rows in rollup_deltas(changes).items():
        params = [
            _row_params(table, key, measures) for key, measures in rows.items() if any(measures)
        ]
        if params:
            await conn.execute(_upsert(conn, table), params)


def _measure_names(table: Table) -> list[str]:
    return [name for name in ("runs", "events") if name in table.c]


def _row_params(table: Table, key: Key, measures: list[int]) -> dict[str, Any]:
    key_names = [column.name for column in table.primary_key.columns]
    return dict(zip(key_names, key, strict=True)) | dict(
        zip(_measure_names(table), measures, strict=True)
    )


def _upsert(conn: AsyncConnection, table: Table) -> Any:
    insert_for = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
    statement = insert_for(table)
    return statement.on_conflict_do_update(
        index_elements=list(table.primary_key.columns),
        set_={name: table.c[name] + statement.excluded[name] for name in _measure_names(table)},
    )
