"""What each rollup key column holds, for code that recomputes rollups in bulk.

Live ingest (storage/rollups.py) spells every rollup key by hand. The bulk paths
(storage/rollup_rebuild.py in SQL, storage/bulk_rollups.py in Python) build their keys
from the tables' primary keys with these rules instead, so that a rollup losing or
gaining a key column (as rollup_dimension lost ``outcome``) changes them with it; a
key column without a rule fails at import rather than being filled wrongly.
"""

from __future__ import annotations

from sqlalchemy import Table

from storage.rollup_tables import (
    ROLLUP_APP,
    ROLLUP_DIMENSION,
    ROLLUP_ERROR,
    ROLLUP_GRAINS,
    ROLLUP_TOTAL,
)
from storage.rollups import MISSING_CODE, MISSING_TEXT

TABLES: tuple[Table, ...] = (ROLLUP_TOTAL, ROLLUP_APP, ROLLUP_ERROR, ROLLUP_DIMENSION)
# Key columns that are not a run column: set per row by the code that builds it.
GRAIN, BUCKET, DIMENSION, VALUE = "grain", "bucket_start", "dimension", "value"
# Run columns a rollup is keyed by, and what a missing value is stored as (primary
# keys hold no NULL); None: the column is never missing.
RUN_KEY_COLUMNS: dict[str, str | int | None] = {
    "kind": None,
    "outcome": None,
    "app": MISSING_TEXT,
    "exit_code": MISSING_CODE,
    "error_category": MISSING_TEXT,
}
# Rollups that count only some runs (storage/rollups.py: error rows are FAILED runs).
OUTCOME_FILTER = {ROLLUP_ERROR.name: "FAILED"}

KEY_COLUMNS = {table.name: tuple(c.name for c in table.primary_key.columns) for table in TABLES}
MEASURES = {table.name: tuple(n for n in ("runs", "events") if n in table.c) for table in TABLES}

# Each grain's rows are summed from the grain before it (hours, then days, then months).
_GRAIN_CHAINS = {("h", "d"), ("h", "d", "m")}
for _name, _grains in ROLLUP_GRAINS.items():
    if _grains not in _GRAIN_CHAINS:
        raise RuntimeError(f"{_name}: grains {_grains} are none of {sorted(_GRAIN_CHAINS)}")

for _table, _keys in KEY_COLUMNS.items():
    _unknown = set(_keys) - {GRAIN, BUCKET, DIMENSION, VALUE} - RUN_KEY_COLUMNS.keys()
    if _unknown or not {GRAIN, BUCKET} <= set(_keys):
        raise RuntimeError(f"no bulk rollup rule for {_table} key columns {sorted(_unknown)}")
