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
from sqlalchemy.ext.asyncio import AsyncConnection

from ingest.merge import RunChange
from storage.dimensions import DIMENSIONS, ROLLED_UP_DIMENSIONS, RunState
from storage.rollup_tables import ROLLUP_APP, ROLLUP_DIMENSION, ROLLUP_ERROR, ROLLUP_TOTAL
from storage.statements import upsert_adding

MISSING_TEXT = ""
MISSING_CODE = -1
GRAINS = ("h", "d")

Key = tuple[Any, ...]
Deltas = dict[Table, dict[Key, list[int]]]
Contribution = tuple[Table, Key, tuple[int, ...]]


def grain_start(moment: datetime, grain: str) -> datetime:
    if grain == "h":
        return moment.replace(minute=0, second=0, microsecond=0)
    return moment.replace(hour=0, minute=0, second=0, microsecond=0)


def _dimension_values(run: RunState) -> tuple[str, ...]:
    return tuple(DIMENSIONS[d].key(run) or MISSING_TEXT for d in ROLLED_UP_DIMENSIONS)


def _error_key(run: RunState) -> tuple[Any, ...] | None:
    if run["outcome"] != "FAILED":
        return None
    return (run["kind"], run["app"], run["exit_code"], run["error_category"], run["started_at"])


def _contributions(
    run: RunState, dimension_values: tuple[str, ...] | None, errors: bool
) -> Iterable[Contribution]:
    """Each rollup row the run counts in, with its measures (runs[, events])."""
    kind, outcome = run["kind"], run["outcome"]
    app = run["app"] or MISSING_TEXT
    events = run["event_count"]
    for grain in GRAINS:
        bucket = grain_start(run["started_at"], grain)
        yield ROLLUP_TOTAL, (grain, bucket, kind, outcome), (1, events)
        yield ROLLUP_APP, (grain, bucket, kind, app, outcome), (1, events)
        if errors and outcome == "FAILED":
            code = MISSING_CODE if run["exit_code"] is None else run["exit_code"]
            category = run["error_category"] or MISSING_TEXT
            yield ROLLUP_ERROR, (grain, bucket, kind, app, code, category), (1,)
        if dimension_values is not None:
            for name, value in zip(_DIMENSION_NAMES, dimension_values, strict=True):
                yield ROLLUP_DIMENSION, (name, grain, bucket, kind, value), (1,)


def rollup_deltas(changes: Sequence[RunChange]) -> Deltas:
    """Net change of every rollup row. Rows a change cannot move are skipped: a progress
    ping or a finish changes a run's event count and outcome, not its per-dimension rows
    (which have no outcome), and only a FAILED run has error rows."""
    deltas: Deltas = defaultdict(dict)
    for change in changes:
        before, after = change.before, change.after
        after_values = _dimension_values(after)
        before_values = None if before is None else _dimension_values(before)
        dimensions_move = before is None or (
            before_values != after_values
            or before["kind"] != after["kind"]
            or before["started_at"] != after["started_at"]
        )
        errors = before is None or _error_key(before) != _error_key(after)
        for sign, run, values in ((-1, before, before_values), (1, after, after_values)):
            if run is None:
                continue
            for table, key, measures in _contributions(
                run, values if dimensions_move else None, errors
            ):
                row = deltas[table].get(key)
                if row is None:
                    row = deltas[table][key] = [0] * len(measures)
                for index, measure in enumerate(measures):
                    row[index] += sign * measure
    return deltas


async def apply_rollup_changes(conn: AsyncConnection, changes: Sequence[RunChange]) -> None:
    """The ingest hook: move every changed run's counts in the same transaction."""
    for table, rows in rollup_deltas(changes).items():
        keys, measures = _KEYS[table], _MEASURES[table]
        params = [
            dict(zip(keys, key, strict=True)) | dict(zip(measures, values, strict=True))
            for key, values in rows.items()
            if any(values)
        ]
        if params:
            await conn.execute(upsert_adding(conn.dialect.name, table, measures), params)


_DIMENSION_NAMES = tuple(dimension.value for dimension in ROLLED_UP_DIMENSIONS)
_TABLES = (ROLLUP_TOTAL, ROLLUP_APP, ROLLUP_ERROR, ROLLUP_DIMENSION)
_KEYS = {table: tuple(column.name for column in table.primary_key.columns) for table in _TABLES}
_MEASURES = {table: tuple(n for n in ("runs", "events") if n in table.c) for table in _TABLES}
