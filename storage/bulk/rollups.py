"""The rollup rows a batch of new runs adds, counted while the batch is converted.

A bulk load could rebuild the rollups from the runs table afterwards
(storage/bulk/rebuild.py), but SQLite has no hash aggregation: each of the ~40
GROUP BYs sorts the whole table, which together takes about as long as loading a
million runs, and all of it in the one writer. Counting each batch's runs in Python
instead runs in the generator's worker processes and leaves the writer one upsert per
row (batches that share an hour add up). Keys follow storage/model/rollup_spec.py, with
the same dimension key functions as live ingest; the bulk tests check the result
equals ``rebuild_rollups``, which they check equals live ingest.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import lru_cache
from operator import itemgetter
from typing import Any

from ingest.run_record import RunRecord
from storage.model.dimensions import DIMENSIONS, ROLLED_UP_DIMENSIONS
from storage.model.rollup_spec import (
    BUCKET,
    DIMENSION,
    GRAIN,
    KEY_COLUMNS,
    MEASURE_RULES,
    MEASURES,
    MISSING_TEXT,
    OUTCOME_FILTER,
    RUN_KEY_COLUMNS,
    TABLES,
    VALUE,
)
from storage.model.rollup_tables import ROLLUP_GRAINS

Row = tuple[Any, ...]
_DIMENSION_KEYS = tuple((d.value, DIMENSIONS[d].key) for d in ROLLED_UP_DIMENSIONS)
# Each table's key, in primary key order, read from a row source (see rollup_rows).
_KEY_OF = {table.name: itemgetter(*KEY_COLUMNS[table.name]) for table in TABLES}


def rollup_rows(
    runs: Sequence[RunRecord], hours: Sequence[Any], day_of: Callable[[Any], Any]
) -> dict[str, list[Row]]:
    """Rows (key columns, then measures) of every rollup table for ``runs``, at each of
    its grains (storage/model/rollup_tables.py ROLLUP_GRAINS), sorted by key.

    ``hours[i]`` is the hour bucket of ``runs[i]`` and ``day_of`` gives an hour bucket's
    day, both in the form the store compares (see storage/bulk/rows.py).
    """
    counted: dict[str, dict[Row, list[int]]] = {table.name: {} for table in TABLES}
    for run, hour in zip(runs, hours, strict=True):
        source: dict[str, Any] = {GRAIN: "h", BUCKET: hour}
        for column, missing in RUN_KEY_COLUMNS.items():
            value = run[column]
            source[column] = missing if value is None and missing is not None else value
        for table, sums in counted.items():
            wanted = OUTCOME_FILTER.get(table)
            if wanted is not None and run["outcome"] != wanted:
                continue
            key_of = _KEY_OF[table]
            measured = _measured(table, run["outcome"], run["event_count"])
            if DIMENSION in KEY_COLUMNS[table]:
                for name, value_of in _DIMENSION_KEYS:
                    source[DIMENSION] = name
                    source[VALUE] = value_of(run) or MISSING_TEXT
                    _add(sums, key_of(source), measured)
            else:
                _add(sums, key_of(source), measured)
    return {table: _all_grains(table, sums, day_of) for table, sums in counted.items()}


@lru_cache(maxsize=4096)
def _measured(table: str, outcome: str, events: int) -> tuple[int, ...]:
    """What one run adds to each of the table's measures (few distinct answers)."""
    return tuple(
        (events if rule.counts_events else 1)
        if rule.outcome is None or rule.outcome == outcome
        else 0
        for rule in map(MEASURE_RULES.__getitem__, MEASURES[table])
    )


def _add(sums: dict[Row, list[int]], key: Row, measured: Sequence[int]) -> None:
    row = sums.get(key)
    if row is None:
        sums[key] = list(measured)
    else:
        for index, value in enumerate(measured):
            row[index] += value


def _all_grains(table: str, hours: dict[Row, list[int]], day_of: Callable[[Any], Any]) -> list[Row]:
    """Hour rows and the rows of the table's coarser grains they sum to, with their
    measures, each coarser grain summed from the one before it."""
    columns = KEY_COLUMNS[table]
    grain_at, bucket_at = columns.index(GRAIN), columns.index(BUCKET)
    levels = [hours]
    for grain in ROLLUP_GRAINS[table][1:]:
        coarser_of = day_of if grain == "d" else _month_of
        coarser: dict[Row, list[int]] = {}
        buckets: dict[Any, Any] = {}
        for key, measured in levels[-1].items():
            row = list(key)
            row[grain_at] = grain
            bucket = key[bucket_at]
            found = buckets.get(bucket)
            row[bucket_at] = buckets[bucket] = coarser_of(bucket) if found is None else found
            _add(coarser, tuple(row), measured)
        levels.append(coarser)
    rows = [(*key, *measured) for level in levels for key, measured in level.items()]
    rows.sort()
    return rows


def _month_of(day: Any) -> Any:
    """A day bucket's month, in the store's form: naive UTC text on SQLite (the form
    storage/bulk/rows.py gives), an aware datetime on PostgreSQL."""
    if isinstance(day, str):
        return f"{day[:8]}01{day[10:]}"
    return day.replace(day=1)
