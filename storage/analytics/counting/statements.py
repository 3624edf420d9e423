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
from sqlalchemy.sql.elements import ColumnClause, ColumnElement
from sqlalchemy.sql.selectable import Select

from storage.analytics.counting.bound_filter import (
    FilterShape,
    effective_outcome,
    filter_params,
    time_param,
    values_param,
)
from storage.analytics.counting.cubes import Cube
from storage.analytics.filters import EFFECTIVE_OUTCOMES, RunFilter
from storage.analytics.timeline import Plan
from storage.model.dimensions import DIMENSIONS, Dimension
from storage.model.rollup_spec import MISSING_CODE, MISSING_TEXT
from storage.model.rollup_tables import STORED_OUTCOMES, events_column, runs_column
from storage.model.tables import RUNS


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
    # The outcomes the statement counts, a measure column each: every effective outcome
    # the filter keeps for a cube with a column per outcome, else the cube's one.
    outcomes: tuple[str, ...] = ()

    @property
    def measures(self) -> int:
        """Measure columns of every part: runs per outcome, then (for a cube with
        events) events per outcome, or one column of them all when pivoted."""
        return len(self.outcomes) + self.event_measures

    @property
    def event_measures(self) -> int:
        if not self.cube.has_events:
            return 0
        return 1 if self.pivot else len(self.outcomes)


def counted_outcomes(cube: Cube, run_filter: RunFilter) -> tuple[str, ...]:
    if cube.outcome is not None:
        return (cube.outcome,)
    return tuple(
        o for o in EFFECTIVE_OUTCOMES if not run_filter.outcomes or o in run_filter.outcomes
    )


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
        outcomes=counted_outcomes(cube, run_filter),
    )
    return shape, params


@lru_cache(maxsize=512)
def statement(shape: Shape) -> Select[Any]:
    """Rows of (keys…, [slot], measures…), grouped once in SQL; Python adds up the few
    rows that still share keys and time bucket (``slot`` is a time inside the row's
    bucket: the rollup bucket, or a run's start at the edges). The measures are the
    runs of each of ``shape.outcomes`` and, for a cube with events, their events.

    Every part spells keys as the rollups store them ('' and -1 for a missing value),
    so that one GROUP BY sums rollup rows and runs alike; the result spells them as
    the runs table does (NULL, exit codes as text).

    With ``distinct`` (a cube of one outcome), that key is summed away as well and a
    column counts its values (missing excepted) that have runs in the group: (keys but
    one…, outcome, runs, events, distinct, subtracted). A histogram then returns one
    row per bucket, not one per bucket and app. Exactly, values are summed first and
    those netting to zero left out; otherwise COUNT(DISTINCT …) counts them directly
    (half the work in SQLite), which is exact only when no row is subtracted:
    ``subtracted`` counts the rows that were, for the caller to check.

    With ``pivot``, every effective outcome is a column: (keys…, [slot], runs of each
    of EFFECTIVE_OUTCOMES…, events), 0 for the outcomes the filter leaves out.
    """
    parts = [_scan(shape, index) for index in range(len(shape.pieces))]
    parts += [_raw_part(shape, index) for index in range(len(shape.raw_signs))]
    if shape.correction is not None:
        parts.append(_correction_part(shape))
    rows = (union_all(*parts) if len(parts) > 1 else parts[0]).subquery()
    keys = [rows.c[f"k{i}"] for i in range(len(shape.dimensions))]
    measures = [rows.c[f"m{i}"] for i in range(shape.measures)]
    if shape.distinct is not None and not shape.exact_distinct:
        return _counting_distinct_directly(shape, rows, keys)
    if shape.distinct is not None:
        return _counting_distinct(shape, rows, keys)
    slot = [rows.c.slot] if shape.by_time else []
    spelled = [_spelled(shape, i, key) for i, key in enumerate(keys)]
    if not shape.pivot:
        sums = [func.sum(m).label(m.name) for m in measures]
        return select(*spelled, *slot, *sums).group_by(*keys, *slot)
    at = {outcome: i for i, outcome in enumerate(shape.outcomes)}
    by_outcome = [
        (func.sum(measures[at[o]]) if o in at else literal_column("0", Integer)).label(o)
        for o in EFFECTIVE_OUTCOMES
    ]
    events = measures[len(shape.outcomes) :]
    total = func.sum(events[0]) if events else literal_column("0", Integer)
    return select(*spelled, *slot, *by_outcome, total.label("events")).group_by(*keys, *slot)


def sum_of(columns: Sequence[Any]) -> Any:
    total = columns[0]
    for column in columns[1:]:
        total = total + column
    return total


def _single_outcome(shape: Shape) -> ColumnElement[Any]:
    assert len(shape.outcomes) == 1, "distinct values are counted on cubes of one outcome"
    return literal_column(f"'{shape.outcomes[0]}'", String).label("outcome")


def _events(shape: Shape, rows: Any) -> Any:
    return rows.c.m1 if shape.cube.has_events else literal_column("0", Integer)


def _counting_distinct(shape: Shape, rows: Any, keys: list[Any]) -> Select[Any]:
    assert shape.distinct is not None and not shape.by_time
    per_value = (
        select(
            *keys, func.sum(rows.c.m0).label("runs"), func.sum(_events(shape, rows)).label("events")
        )
        .group_by(*keys)
        .having((func.sum(rows.c.m0) != 0) | (func.sum(_events(shape, rows)) != 0))
        .subquery()
    )
    kept = [i for i in range(len(keys)) if i != shape.distinct]
    counted = func.nullif(per_value.c[f"k{shape.distinct}"], _missing(shape, shape.distinct))
    return select(
        *(_spelled(shape, i, per_value.c[f"k{i}"]) for i in kept),
        _single_outcome(shape),
        func.sum(per_value.c.runs).label("runs"),
        func.sum(per_value.c.events).label("events"),
        func.count(counted).label("distinct"),
        literal_column("0", Integer).label("subtracted"),
    ).group_by(*(per_value.c[f"k{i}"] for i in kept))


def _counting_distinct_directly(shape: Shape, rows: Any, keys: list[Any]) -> Select[Any]:
    assert shape.distinct is not None and not shape.by_time and shape.correction is None
    kept = [i for i in range(len(keys)) if i != shape.distinct]
    counted = func.nullif(keys[shape.distinct], _missing(shape, shape.distinct))
    return select(
        *(_spelled(shape, i, keys[i]) for i in kept),
        _single_outcome(shape),
        func.sum(rows.c.m0).label("runs"),
        func.sum(_events(shape, rows)).label("events"),
        func.count(counted.distinct()).label("distinct"),
        func.sum(case((rows.c.m0 < 0, 1), else_=0)).label("subtracted"),
    ).group_by(*(keys[i] for i in kept))


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
    """One piece: a range scan of one grain, its measures signed."""
    cube, table = shape.cube, shape.cube.table
    grain, has_start, has_end, sign = shape.pieces[index]
    conditions = [table.c.grain == grain, *_cube_filter(shape)]
    if cube.outcome is not None:
        # Rows that net to zero (left by live ingest) count nothing, and would count as a
        # distinct value.
        conditions.append(table.c.runs != 0)
    if has_start:
        conditions.append(table.c.bucket_start >= time_param(f"a{index}"))
    if has_end:
        conditions.append(table.c.bucket_start < time_param(f"b{index}"))
    measures = _stored_measures(shape)
    return select(
        *(cube.column(d).label(f"k{i}") for i, d in enumerate(shape.dimensions)),
        *([table.c.bucket_start.label("slot")] if shape.by_time else []),
        *((m if sign > 0 else -m).label(f"m{i}") for i, m in enumerate(measures)),
    ).where(*conditions)


def _stored_measures(shape: Shape) -> list[ColumnElement[Any]]:
    """The measures as a rollup row holds them. A cube of one outcome has ``runs``; the
    others a column per stored outcome, where IN_PROGRESS stands for every open run and
    is read as UNFINISHED (the correction moves the recent ones back)."""
    table = shape.cube.table
    if shape.cube.outcome is not None:
        return [table.c.runs]
    measures: list[ColumnElement[Any]] = []
    for column in (runs_column, events_column):
        for outcome in shape.outcomes:
            stored = _STORED_AS.get(outcome)
            measures.append(
                literal_column("0", Integer) if stored is None else table.c[column(stored)]
            )
    return _with_event_measures(shape, measures)


def _with_event_measures(
    shape: Shape, measures: list[ColumnElement[Any]]
) -> list[ColumnElement[Any]]:
    """``measures`` (runs, then events, per counted outcome) with the events as the
    statement counts them: per outcome, all in one column (pivot) or none."""
    runs, events = measures[: len(shape.outcomes)], measures[len(shape.outcomes) :]
    if shape.event_measures == 0:
        return runs
    if shape.event_measures == len(events):
        return runs + events
    counting = [m for m in events if not _is_zero(m)]
    return [*runs, sum_of(counting) if counting else literal_column("0", Integer)]


def _is_zero(column: ColumnElement[Any]) -> bool:
    return isinstance(column, ColumnClause) and column.is_literal and column.name == "0"


# The stored outcome column an effective outcome is read from (IN_PROGRESS: none).
_STORED_AS = {outcome: outcome for outcome in STORED_OUTCOMES} | {
    "UNFINISHED": "IN_PROGRESS",
    "IN_PROGRESS": None,
}


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
    return conditions


def _run_keys(shape: Shape) -> list[ColumnElement[Any]]:
    """The grouped dimensions of a run, spelled as the rollups store them."""
    return [
        func.coalesce(
            DIMENSIONS[d].sql() if not _is_code(shape, i) else RUNS.c.exit_code, _missing(shape, i)
        )
        for i, d in enumerate(shape.dimensions)
    ]


def _run_measures(shape: Shape, sign: int) -> list[ColumnElement[Any]]:
    """The measures of a group of runs, signed: runs, then events (for a cube with
    events), of each counted outcome. A cube of one outcome (or of none) counts every
    run the filter kept."""
    every: ColumnElement[Any] = func.coalesce(func.sum(RUNS.c.event_count), 0)
    measures: list[ColumnElement[Any]]
    if shape.cube.outcome is not None:
        measures = [func.count(), every][: shape.measures]
    else:
        outcome = effective_outcome()
        measures = [func.sum(case((outcome == o, 1), else_=0)) for o in shape.outcomes]
        if shape.event_measures == 1:  # the filter kept only counted outcomes
            measures.append(every)
        elif shape.event_measures:
            measures += [
                func.sum(case((outcome == o, RUNS.c.event_count), else_=0)) for o in shape.outcomes
            ]
    return [(m if sign > 0 else -m).label(f"m{i}") for i, m in enumerate(measures)]


def _raw_part(shape: Shape, index: int) -> Select[Any]:
    """One partial hour from the runs table, added or subtracted. It lies inside one
    time bucket (buckets are whole hours when rollups are read), so any of its start
    times names it."""
    keys = _run_keys(shape)
    return (
        select(
            *(key.label(f"k{i}") for i, key in enumerate(keys)),
            *([func.min(RUNS.c.started_at).label("slot")] if shape.by_time else []),
            *_run_measures(shape, shape.raw_signs[index]),
        )
        .where(
            RUNS.c.started_at >= time_param(f"rs{index}"),
            RUNS.c.started_at < time_param(f"re{index}"),
            *shape.filter.run_conditions(times=False),
        )
        .group_by(*keys)
        # Without keys an empty span would still give a row (of NULLs).
        .having(func.count() > 0)
    )


def _correction_part(shape: Shape) -> Select[Any]:
    """Open runs seen since the cutoff within the rolled-up span: the rollups count them
    as UNFINISHED, they are IN_PROGRESS. Counted into the one and out of the other
    (where the filter keeps them)."""
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
    moved = {"IN_PROGRESS": 1, "UNFINISHED": -1}
    zero = literal_column("0", Integer)
    runs = [moved[o] * func.count() if o in moved else zero for o in shape.outcomes]
    events = [
        moved[o] * func.coalesce(func.sum(RUNS.c.event_count), 0) if o in moved else zero
        for o in shape.outcomes
    ]
    measures = _with_event_measures(shape, runs + events)
    return (
        select(
            *(key.label(f"k{i}") for i, key in enumerate(keys)),
            *(column.label("slot") for column in slot),
            *(m.label(f"m{i}") for i, m in enumerate(measures)),
        )
        .where(*conditions)
        .group_by(*keys, *slot)
    )
