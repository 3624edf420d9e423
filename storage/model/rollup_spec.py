"""What each rollup key column holds, for code that recomputes rollups in bulk.

Live ingest (storage/writer/rollup_deltas.py) spells every rollup key by hand. The bulk paths
(storage/bulk/rebuild.py in SQL, storage/bulk/rollups.py in Python) build their keys
from the tables' primary keys and measure columns with these rules instead, so that a
rollup losing or gaining a column (as rollup_dimension lost ``outcome``, and rollup_app
turned it into a column per outcome) changes them with it; a column without a rule
fails at import rather than being filled wrongly.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from sqlalchemy import Table

from storage.model.rollup_tables import (
    ROLLUP_APP,
    ROLLUP_DIMENSION,
    ROLLUP_ERROR,
    ROLLUP_GRAINS,
    ROLLUP_TOTAL,
    STORED_OUTCOMES,
    events_column,
    runs_column,
)

# What a rollup key column holds where the run has no value (primary keys hold no NULL).
MISSING_TEXT = ""
MISSING_CODE = -1

TABLES: tuple[Table, ...] = (ROLLUP_TOTAL, ROLLUP_APP, ROLLUP_ERROR, ROLLUP_DIMENSION)
# Key columns that are not a run column: set per row by the code that builds it.
GRAIN, BUCKET, DIMENSION, VALUE = "grain", "bucket_start", "dimension", "value"
# Run columns a rollup is keyed by, and what a missing value is stored as (primary
# keys hold no NULL); None: the column is never missing.
RUN_KEY_COLUMNS: dict[Literal["kind", "app", "exit_code", "error_category"], str | int | None] = {
    "kind": None,
    "app": MISSING_TEXT,
    "exit_code": MISSING_CODE,
    "error_category": MISSING_TEXT,
}
# Rollups that count only some runs (storage/writer/rollup_deltas.py: error rows are FAILED runs).
OUTCOME_FILTER = {ROLLUP_ERROR.name: "FAILED"}

KEY_COLUMNS = {table.name: tuple(c.name for c in table.primary_key.columns) for table in TABLES}
MEASURES = {
    table.name: tuple(c.name for c in table.columns if not c.primary_key) for table in TABLES
}
# The same, keyed by the table (the live writer's statements are built per table).
ROLLUP_KEYS = {table: KEY_COLUMNS[table.name] for table in TABLES}
ROLLUP_MEASURES = {table: MEASURES[table.name] for table in TABLES}


@dataclass(frozen=True, slots=True)
class Measure:
    """What a measure column adds up for each run: 1 (``runs``) or its event count, over
    every run or only those of one stored outcome."""

    counts_events: bool
    outcome: str | None = None


def _measure(name: str) -> Measure:
    if name in ("runs", "events"):
        return Measure(counts_events=name == "events")
    for outcome in STORED_OUTCOMES:
        if name in (runs_column(outcome), events_column(outcome)):
            return Measure(counts_events=name == events_column(outcome), outcome=outcome)
    raise RuntimeError(f"no bulk rollup rule for the measure {name}")


MEASURE_RULES = {name: _measure(name) for names in MEASURES.values() for name in names}

# Each grain's rows are summed from the grain before it (hours, then days, then months).
_GRAIN_CHAINS = {("h", "d"), ("h", "d", "m")}
for _name, _grains in ROLLUP_GRAINS.items():
    if _grains not in _GRAIN_CHAINS:
        raise RuntimeError(f"{_name}: grains {_grains} are none of {sorted(_GRAIN_CHAINS)}")

for _table, _keys in KEY_COLUMNS.items():
    _unknown = set(_keys) - {GRAIN, BUCKET, DIMENSION, VALUE} - RUN_KEY_COLUMNS.keys()
    if _unknown or not {GRAIN, BUCKET} <= set(_keys):
        raise RuntimeError(f"no bulk rollup rule for {_table} key columns {sorted(_unknown)}")
