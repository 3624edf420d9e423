"""The one statement behind a count read from rollups, built once per shape.

A dashboard query is one round trip: the signed rollup pieces (each an index range
scan), the runs-table spans at the edges and the open-run correction, as one UNION ALL
summed per key in SQL. Building and compiling a statement costs more than
running it on a warm rollup (~0.7 ms a statement), so statements are cached by
``Shape`` (what varies between them) and every value goes in as a bound parameter.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any

from sqlalchemy import (
    Integer,
    String,
    bindparam,
    case,
    cast,
    func,
    literal_column,
    select,
    union_all,
)
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.selectable import Select

from storage.analytics.bound_filter import (
    FilterShape,
    effective_outcome,
    filter_params,
    time_param,
    values_param,
)
from storage.analytics.cubes import Cube
from storage.analytics.filters import EFFECTIVE_OUTCOMES, OPEN_OUTCOMES, RunFilter
from storage.analytics.timeline import Plan
from storage.dimensions import DIMENSIONS, Dimension
from storage.rollups import MISSING_CODE, MISSING_TEXT
from storage.tables import RUNS


@dataclass(frozen=True, slots=True)
class Shape:
    """Everything a statement's SQL depends on; the values are parameters."""

    cube: Cube
    dimensions: tuple[Dimension, ...]  # grouped by, in key order (not OUTCOME)
    by_time: bool
    pieces: tuple[tuple[str, bool, bool, int], ...]  # grain, has start, has end, sign
    raw_signs: tuple[int, ...]  # of the runs-table spans
    correction: tuple[bool, bool] | None  # bounds of the corrected span, if corrected
    filter: FilterShape
    # Index in ``dimensions`` of one whose distinct values are counted rather than
    # returned as a key (see ``statement``); never with ``by_time``.
    distinct: int | None = None
    # False: count them with COUNT(DISTINCT …), exact only when no row is subtracted.
    exact_distinct: bool = True
    # Outcomes as columns, one row per key (see ``statement``).
    pivot: bool = False
    # The parts' rows still need the outcome filter: it keeps one open outcome but not
    # the other (rollups store both as one). Otherwise the parts filter exactly.
    refilter: bool = False
    # Every row's outcome, when the filter keeps only the one the cube's rows all have
    # (FAILED for error rows): not grouped by, which halves SQLite's sorting.
    single_outcome: str | None = None


def shape_and_params(
    cube: Cube,
    dimensions: Sequence[Dimension],
    by_time: bool,
    run_filter: RunFilter,
    plan: Plan,
    cutoff: datetime,
    correct: bool,
    *,
    distinct: int | None = None,
    exact_distinct: bool = True,
    pivot: bool = False,
) -> tuple[Shape, dict[str, Any]]:
    """The statement's shape and its parameters, named as ``statement`` binds them."""
    params = filter_params(run_filter, cutoff)
    for index, piece in enumerate(plan.pieces):
        params[f"a{index}"], params[f"b{index}"] = piece.start, piece.end
    for index, span in enumerate(plan.raw):
        params[f"rs{index}"], params[f"re{index}"] = span.start, span.end
    correction = None
    if correct and plan.rolled is not None:
        correction = (plan.rolled.start is not None, plan.rolled.end is not None)
        params["cs"], params["ce"] = plan.rolled.start, plan.rolled.end
    shape = Shape(
        cube=cube,
        dimensions=tuple(dimensions),
        by_time=by_time,
        pieces=tuple(
            (p.grain, p.start is not None, p.end is not None, p.sign) for p in plan.pieces
        ),
        raw_signs=tuple(span.sign for span in plan.raw),
        correction=correction,
        filter=FilterShape.of(run_filter),
        distinct=distinct,
        exact_distinct=exact_distinct,
        pivot=pivot,
        refilter=len(run_filter.outcomes & OPEN_OUTCOMES) == 1,
        single_outcome=(cube.outcome if run_filter.outcomes == frozenset({cube.outcome}) else None),
    )
    return shape, params


@lru_cache(maxsize=512)
def statement(shape: Shape) -> Select[Any]:
    """Rows of (keys…, outcome, [slot], runs, events), grouped once in SQL; Python adds
    up the few rows that still share keys, outcome and time bucket (``slot`` is a time
    inside the row's bucket: the rollup bucket, or a run's start at the edges).

    Every part spells keys as the rollups store them ('' and -1 for a missing value),
    so that one GROUP BY sums rollup rows and runs alike; the result spells them as
    the runs table does (NULL, exit codes as text).

    With ``distinct``, that key is summed away as well and a column counts its values
    (missing excepted) that have runs or events in the group, after the outcome
    filter: (keys but one…, outcome, runs, events, distinct, subtracted). A histogram
    then returns one row per bucket, not one per bucket and app. Exactly, values are
    summed first and those netting to zero left out; otherwise COUNT(DISTINCT …)
    counts them directly (half the work in SQLite), which is exact only when no row
    is subtracted: ``subtracted`` counts the rows that were, for the caller to check.

    With ``pivot``, outcomes are columns, counted after the outcome filter: (keys…,
    [slot], runs of each of EFFECTIVE_OUTCOMES…, events): a fifth of the rows for
    Python to read when every outcome is wanted (summary, appStats, timeSeries).
    """
    parts = [_scan(shape, index) for index in range(len(shape.pieces))]
    parts += [_raw_part(shape, index) for index in range(len(shape.raw_signs))]
    if shape.correction is not None:
        parts += _correction_parts(shape)
    rows = (union_all(*parts) if len(parts) > 1 else parts[0]).subquery()
    keys = [rows.c[f"k{i}"] for i in range(len(shape.dimensions))]
    if shape.distinct is not None and not shape.exact_distinct:
        return _counting_distinct_directly(shape, rows, keys)
    if shape.distinct is not None:
        return _counting_distinct(shape, rows, keys)
    slot = [rows.c.slot] if shape.by_time else []
    if shape.pivot:
        by_outcome = [
            func.sum(case((rows.c.outcome == outcome, rows.c.runs), else_=0)).label(outcome)
            for outcome in EFFECTIVE_OUTCOMES
        ]
        pivoted = select(
            *(_spelled(shape, i, key) for i, key in enumerate(keys)),
            *slot,
            *by_outcome,
            func.sum(rows.c.events).label("events"),
        ).group_by(*keys, *slot)
        if shape.refilter:
            pivoted = pivoted.where(rows.c.outcome.in_(bindparam("outcomes", expanding=True)))
        return pivoted
    outcome, grouped = _outcome(shape, rows)
    return select(
        *(_spelled(shape, i, key) for i, key in enumerate(keys)),
        outcome,
        *slot,
        func.sum(rows.c.runs).label("runs"),
        func.sum(rows.c.events).label("events"),
    ).group_by(*keys, *grouped, *slot)


def _outcome(shape: Shape, rows: Any) -> tuple[Any, list[Any]]:
    """The outcome column of a grouped result, and what to group by for it."""
    if shape.single_outcome is not None:
        return literal_column(f"'{shape.single_outcome}'", String).label("outcome"), []
    return rows.c.outcome, [rows.c.outcome]


def _counting_distinct(shape: Shape, rows: Any, keys: list[Any]) -> Select[Any]:
    assert shape.distinct is not None and not shape.by_time
    outcome, grouped = _outcome(shape, rows)
    per_value = select(
        *keys,
        outcome,
        func.sum(rows.c.runs).label("runs"),
        func.sum(rows.c.events).label("events"),
    ).group_by(*keys, *grouped)
    if shape.refilter:
        per_value = per_value.where(rows.c.outcome.in_(bindparam("outcomes", expanding=True)))
    found = per_value.having(
        (func.sum(rows.c.runs) != 0) | (func.sum(rows.c.events) != 0)
    ).subquery()
    kept = [i for i in range(len(keys)) if i != shape.distinct]
    counted = func.nullif(found.c[f"k{shape.distinct}"], _missing(shape, shape.distinct))
    outcome, grouped = _outcome(shape, found)
    return select(
        *(_spelled(shape, i, found.c[f"k{i}"]) for i in kept),
        outcome,
        func.sum(found.c.runs).label("runs"),
        func.sum(found.c.events).label("events"),
        func.count(counted).label("distinct"),
        literal_column("0", Integer).label("subtracted"),
    ).group_by(*(found.c[f"k{i}"] for i in kept), *grouped)


def _counting_distinct_directly(shape: Shape, rows: Any, keys: list[Any]) -> Select[Any]:
    assert shape.distinct is not None and not shape.by_time and shape.correction is None
    kept = [i for i in range(len(keys)) if i != shape.distinct]
    counted = func.nullif(keys[shape.distinct], _missing(shape, shape.distinct))
    outcome, grouped = _outcome(shape, rows)
    counting = select(
        *(_spelled(shape, i, keys[i]) for i in kept),
        outcome,
        func.sum(rows.c.runs).label("runs"),
        func.sum(rows.c.events).label("events"),
        func.count(counted.distinct()).label("distinct"),
        func.sum(case((rows.c.runs < 0, 1), else_=0)).label("subtracted"),
    ).group_by(*(keys[i] for i in kept), *grouped)
    if shape.refilter:
        counting = counting.where(rows.c.outcome.in_(bindparam("outcomes", expanding=True)))
    return counting


def _is_code(shape: Shape, index: int) -> bool:
    """The key is the error rollup's integer exit code (else text)."""
    return shape.cube.columns.get(shape.dimensions[index]) == "exit_code"


def _missing(shape: Shape, index: int) -> Any:
    return MISSING_CODE if _is_code(shape, index) else MISSING_TEXT


def _spelled(shape: Shape, index: int, key: Any) -> ColumnElement[Any]:
    """A key as the runs table spells it: NULL for missing, exit codes as text."""
    missing = func.nullif(key, _missing(shape, index))
    return (cast(missing, String) if _is_code(shape, index) else missing).label(f"k{index}")


def _scan(shape: Shape, index: int) -> Select[Any]:
    """One piece: a range scan of one grain, its counts signed."""
    cube, table = shape.cube, shape.cube.table
    grain, has_start, has_end, sign = shape.pieces[index]
    # Rows that net to zero (left by live ingest) count nothing, and would count as a
    # distinct value.
    conditions = [table.c.grain == grain, table.c.runs != 0, *_cube_filter(shape)]
    if has_start:
        conditions.append(table.c.bucket_start >= time_param(f"a{index}"))
    if has_end:
        conditions.append(table.c.bucket_start < time_param(f"b{index}"))
    outcome: ColumnElement[Any]
    if cube.splits_outcome:
        # Stored IN_PROGRESS covers every open run; the correction moves the recent ones.
        outcome = case(
            (table.c.outcome == "IN_PROGRESS", literal_column("'UNFINISHED'", String)),
            else_=table.c.outcome,
        )
    else:
        outcome = literal_column(f"'{cube.outcome}'", String)
    events = table.c.events if cube.has_events else literal_column("0", Integer)
    runs = table.c.runs
    return select(
        *(cube.column(d).label(f"k{i}") for i, d in enumerate(shape.dimensions)),
        outcome.label("outcome"),
        *([table.c.bucket_start.label("slot")] if shape.by_time else []),
        (runs if sign > 0 else -runs).label("runs"),
        (events if sign > 0 else -events).label("events"),
    ).where(*conditions)


def _cube_filter(shape: Shape) -> list[ColumnElement[bool]]:
    cube = shape.cube
    conditions = []
    if cube.dimension is not None:
        conditions.append(cube.table.c.dimension == cube.dimension.value)
    for dimension in shape.filter.filtered:
        column = cube.column(dimension)
        if cube.columns[dimension] == "exit_code":
            conditions.append(column.in_(bindparam("codes", expanding=True)))
        else:
            conditions.append(column.in_(bindparam(values_param(dimension), expanding=True)))
    if shape.filter.outcomes and cube.splits_outcome:
        conditions.append(cube.table.c.outcome.in_(bindparam("stored_outcomes", expanding=True)))
    return conditions


def _run_keys(shape: Shape) -> list[ColumnElement[Any]]:
    """The grouped dimensions of a run, spelled as the rollups store them."""
    return [
        func.coalesce(
            DIMENSIONS[d].sql() if not _is_code(shape, i) else RUNS.c.exit_code, _missing(shape, i)
        )
        for i, d in enumerate(shape.dimensions)
    ]


def _run_events(shape: Shape) -> ColumnElement[Any]:
    """Events of a group of runs, as the cube counts them: none for a cube without
    events, or a run subtracted at an edge would leave a key with events and no runs."""
    if not shape.cube.has_events:
        return literal_column("0", Integer)
    return func.coalesce(func.sum(RUNS.c.event_count), 0)


def _raw_part(shape: Shape, index: int) -> Select[Any]:
    """One partial hour from the runs table, added or subtracted. It lies inside one
    time bucket (buckets are whole hours when rollups are read), so any of its start
    times names it."""
    keys = _run_keys(shape)
    outcome = effective_outcome()
    sign = shape.raw_signs[index]
    runs = func.count()
    events = _run_events(shape)
    return (
        select(
            *(key.label(f"k{i}") for i, key in enumerate(keys)),
            outcome.label("outcome"),
            *([func.min(RUNS.c.started_at).label("slot")] if shape.by_time else []),
            (runs if sign > 0 else -runs).label("runs"),
            (events if sign > 0 else -events).label("events"),
        )
        .where(
            RUNS.c.started_at >= time_param(f"rs{index}"),
            RUNS.c.started_at < time_param(f"re{index}"),
            *shape.filter.run_conditions(times=False),
        )
        .group_by(*keys, outcome)
    )


def _correction_parts(shape: Shape) -> list[Select[Any]]:
    """Open runs seen since the cutoff within the rolled-up span: the rollups count them
    as UNFINISHED, they are IN_PROGRESS. Counted twice, into one and out of the other."""
    assert shape.correction is not None
    has_start, has_end = shape.correction
    keys = _run_keys(shape)
    slot = [RUNS.c.started_at] if shape.by_time else []
    conditions = [
        RUNS.c.outcome == "IN_PROGRESS",
        RUNS.c.last_seen_at >= time_param("cutoff"),
        *shape.filter.run_conditions(times=False, outcomes=False),
    ]
    if has_start:
        conditions.append(RUNS.c.started_at >= time_param("cs"))
    if has_end:
        conditions.append(RUNS.c.started_at < time_param("ce"))
    runs = func.count()
    events = _run_events(shape)
    return [
        select(
            *(key.label(f"k{i}") for i, key in enumerate(keys)),
            literal_column(f"'{outcome}'", String).label("outcome"),
            *(column.label("slot") for column in slot),
            (sign * runs).label("runs"),
            (sign * events).label("events"),
        )
        .where(*conditions)
        .group_by(*keys, *slot)
        for outcome, sign in (("IN_PROGRESS", 1), ("UNFINISHED", -1))
    ]
