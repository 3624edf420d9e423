"""Keeping the rollups equal to the runs they summarise, inside the ingest transaction.

Every run contributes +1 run (and its event count) to one row per rollup and grain.
For a batch of run changes the net contribution (after − before) is summed per row in
Python and applied with one upsert per table (storage/writer/plan.py), so a progress
ping that only adds an event touches two rows, and a run moving from in-progress to
success moves its count.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Table

from ingest.merge import RunChange
from ingest.run_record import RunRecord
from storage.model.dimensions import DIMENSIONS, ROLLED_UP_DIMENSIONS
from storage.model.rollup_spec import MISSING_CODE, MISSING_TEXT, ROLLUP_MEASURES
from storage.model.rollup_tables import (
    OUTCOME_COLUMNS,
    ROLLUP_APP,
    ROLLUP_DIMENSION,
    ROLLUP_ERROR,
    ROLLUP_GRAINS,
    ROLLUP_TOTAL,
    STORED_OUTCOMES,
)

# Every grain some table keeps; each table keeps ROLLUP_GRAINS[its name].
GRAINS = ("h", "d", "m")

Key = tuple[Any, ...]
TableDeltas = dict[Key, list[int]]
Deltas = dict[Table, TableDeltas]
RollupRow = tuple[Any, ...]  # key columns, then measures, in the table's column order


def grain_start(moment: datetime, grain: str) -> datetime:
    if grain == "h":
        return moment.replace(minute=0, second=0, microsecond=0)
    day = moment.replace(hour=0, minute=0, second=0, microsecond=0)
    return day if grain == "d" else day.replace(day=1)


def rollup_deltas(changes: Sequence[RunChange]) -> Deltas:
    """Net change of every rollup row the batch moves.

    Only rows a change can move are visited: the per-dimension rows (which have no
    outcome) only for the dimensions whose value changed, error rows only when the
    run's failure changed. A progress ping is two event counts per grain.
    """
    totals: TableDeltas = {}
    apps: TableDeltas = {}
    errors: TableDeltas = {}
    dimensions: TableDeltas = {}
    for change in changes:
        before, after = change.before, change.after
        after_buckets = _buckets(after)
        before_buckets = None if before is None else _buckets(before)
        if before is not None and before_buckets is not None:
            _add_counts(totals, apps, before, before_buckets, -1)
        _add_counts(totals, apps, after, after_buckets, 1)
        if before is None or _error_key(before) != _error_key(after):
            if before is not None and before_buckets is not None:
                _add_error(errors, before, before_buckets, -1)
            _add_error(errors, after, after_buckets, 1)
        _add_dimensions(dimensions, before, before_buckets, after, after_buckets)
    return {
        ROLLUP_TOTAL: totals,
        ROLLUP_APP: apps,
        ROLLUP_ERROR: errors,
        ROLLUP_DIMENSION: dimensions,
    }


def rollup_rows(changes: Sequence[RunChange]) -> dict[Table, list[RollupRow]]:
    """The upsert rows of each table: keys plus the measures to add, rows that net to
    zero left out, sorted so that concurrent writers lock rows in one order."""
    rows: dict[Table, list[RollupRow]] = {}
    for table, deltas in rollup_deltas(changes).items():
        moving = sorted((*key, *values) for key, values in deltas.items() if any(values))
        if moving:
            rows[table] = moving
    return rows


def _add(deltas: TableDeltas, key: Key, sign: int, *measures: int) -> None:
    row = deltas.get(key)
    if row is None:
        deltas[key] = [sign * measure for measure in measures]
    else:
        for index, measure in enumerate(measures):
            row[index] += sign * measure


Buckets = tuple[tuple[str, datetime], ...]  # (grain, bucket start) of each grain


def _buckets(run: RunRecord) -> Buckets:
    started_at = run["started_at"]
    return tuple((grain, grain_start(started_at, grain)) for grain in GRAINS)


def _add_counts(
    totals: TableDeltas, apps: TableDeltas, run: RunRecord, buckets: Buckets, sign: int
) -> None:
    """The run's count and events into its outcome's columns (OUTCOME_COLUMNS order)."""
    kind, events = run["kind"], sign * run["event_count"]
    at = _OUTCOME_AT[run["outcome"]]
    app = run["app"] or MISSING_TEXT
    for grain, bucket in buckets:
        if grain in _TOTAL_GRAINS:
            _move(totals, (grain, bucket, kind), at, sign, events)
        if grain in _APP_GRAINS:
            _move(apps, (grain, bucket, kind, app), at, sign, events)


def _move(deltas: TableDeltas, key: Key, at: int, runs: int, events: int) -> None:
    """Runs and events into the columns of the outcome at ``at`` (OUTCOME_COLUMNS)."""
    row = deltas.get(key)
    if row is None:
        row = deltas[key] = [0] * len(OUTCOME_COLUMNS)
    row[at] += runs
    row[at + len(STORED_OUTCOMES)] += events


def _error_key(run: RunRecord) -> tuple[Any, ...] | None:
    if run["outcome"] != "FAILED":
        return None
    return (run["kind"], run["app"], run["exit_code"], run["error_category"], run["started_at"])


def _add_error(errors: TableDeltas, run: RunRecord, buckets: Buckets, sign: int) -> None:
    if run["outcome"] != "FAILED":
        return
    kind, app = run["kind"], run["app"] or MISSING_TEXT
    code = MISSING_CODE if run["exit_code"] is None else run["exit_code"]
    category = run["error_category"] or MISSING_TEXT
    for grain, bucket in buckets:
        if grain in _ERROR_GRAINS:
            _add(errors, (grain, bucket, kind, app, code, category), sign, 1)


def _add_dimensions(
    dimensions: TableDeltas,
    before: RunRecord | None,
    before_buckets: Buckets | None,
    after: RunRecord,
    after_buckets: Buckets,
) -> None:
    """Move the run between the values of the dimensions that changed; all of them when
    the run is new or its kind or start (the row's other key columns) changed."""
    whole = before is None or (
        before["kind"] != after["kind"] or before["started_at"] != after["started_at"]
    )
    before_kind, after_kind = None if before is None else before["kind"], after["kind"]
    # The innermost loop of ingest (a new run has 2 × 19 rows): dict work inlined.
    for name, key_of in _DIMENSION_KEYS:
        new = key_of(after) or MISSING_TEXT
        if before is not None and before_buckets is not None:
            old = key_of(before) or MISSING_TEXT
            if not whole and old == new:
                continue
            for grain, bucket in before_buckets[:_DIMENSION_GRAIN_COUNT]:
                key = (name, grain, bucket, before_kind, old)
                row = dimensions.get(key)
                if row is None:
                    dimensions[key] = [-1]
                else:
                    row[0] -= 1
        for grain, bucket in after_buckets[:_DIMENSION_GRAIN_COUNT]:
            key = (name, grain, bucket, after_kind, new)
            row = dimensions.get(key)
            if row is None:
                dimensions[key] = [1]
            else:
                row[0] += 1


_DIMENSION_KEYS = tuple((d.value, DIMENSIONS[d].key) for d in ROLLED_UP_DIMENSIONS)
_TOTAL_GRAINS = ROLLUP_GRAINS[ROLLUP_TOTAL.name]
_APP_GRAINS = ROLLUP_GRAINS[ROLLUP_APP.name]
_ERROR_GRAINS = ROLLUP_GRAINS[ROLLUP_ERROR.name]
# Dimension rows keep the first grains of GRAINS (hours and days): a slice, not a test
# per row, in ingest's innermost loop.
_DIMENSION_GRAIN_COUNT = len(ROLLUP_GRAINS[ROLLUP_DIMENSION.name])
assert GRAINS[:_DIMENSION_GRAIN_COUNT] == ROLLUP_GRAINS[ROLLUP_DIMENSION.name]
_OUTCOME_AT = {outcome: index for index, outcome in enumerate(STORED_OUTCOMES)}
assert ROLLUP_MEASURES[ROLLUP_TOTAL] == ROLLUP_MEASURES[ROLLUP_APP] == OUTCOME_COLUMNS
