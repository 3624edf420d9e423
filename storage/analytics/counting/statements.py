"""The one statement behind a count read from rollups, built once per shape and layout.

A dashboard query is one round trip: the signed rollup pieces (each an index range
scan), the runs-table spans at the edges and the open-run correction, as one UNION ALL
summed per key in SQL. Building and compiling a statement costs more than
running it on a warm rollup (~0.7 ms a statement), so statements are cached by
``Shape`` (what varies between them) and every value goes in as a bound parameter.

Each result layout has its own builder, and every column it selects is labelled:

- ``per_outcome``: (k0…, [slot], runs_<outcome>…, [events_<outcome>…]);
- ``outcome_columns``: (k0…, [slot], runs_<outcome> of each effective outcome, events);
- ``distinct_summed`` and ``distinct_counted``: (k0… but the counted key, outcome,
  runs, events, distinct, subtracted).

A builder returns the statement with where each named column sits in its rows, found
by label when it is built: callers read ``row[built.runs]``, at the cost of a tuple
index (a Row's attribute or mapping access costs six times as much, for every column
of every row of a time series).
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
from sqlalchemy.sql.selectable import Select, Subquery

from ingest.statuses import Outcome
from storage.analytics.counting.bound_filter import (
    FilterShape,
    effective_outcome,
    filter_params,
    plan_params,
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

# Column labels shared by every part of a statement and its result.
SLOT = "slot"  # a time inside the row's bucket: the rollup bucket, or a run's start
EVENTS = "events"  # the events of every counted outcome, in one column
OUTCOME = "outcome"
RUNS_COLUMN = "runs"
DISTINCT = "distinct"
SUBTRACTED = "subtracted"

# The stored outcome column an effective outcome is read from (IN_PROGRESS: none).
_STORED_AS = {outcome: outcome for outcome in STORED_OUTCOMES} | {
    Outcome.UNFINISHED.value: Outcome.IN_PROGRESS.value,
    Outcome.IN_PROGRESS.value: None,
}


def key_label(index: int) -> str:
    """The label of the ``index``-th grouped dimension's column."""
    return f"k{index}"


def runs_label(outcome: str) -> str:
    return f"runs_{outcome.lower()}"


def events_label(outcome: str) -> str:
    return f"events_{outcome.lower()}"


@dataclass(frozen=True, slots=True)
class Shape:
    """Everything the SQL of a statement's UNION ALL depends on; the values are
    parameters. Which columns the result has is the builder's (the layout)."""

    cube: Cube
    dimensions: tuple[Dimension, ...]  # grouped by, in key order (not OUTCOME)
    by_time: bool
    pieces: tuple[tuple[str, bool, bool, int], ...]  # grain, has start, has end, sign
    raw_signs: tuple[int, ...]  # of the runs-table spans
    correction: tuple[bool, bool] | None  # bounds of the corrected span, if corrected
    filter: FilterShape
    # The outcomes the statement counts, a measure column each: every effective outcome
    # the filter keeps for a cube with a column per outcome, else the cube's one.
    outcomes: tuple[str, ...]


def counted_outcomes(cube: Cube, run_filter: RunFilter) -> tuple[str, ...]:
    if cube.outcome is not None:
        return (cube.outcome,)
    return tuple(
        o for o in EFFECTIVE_OUTCOMES if not run_filter.outcomes or o in run_filter.outcomes
    )


def bind(
    cube: Cube,
    dimensions: Sequence[Dimension],
    by_time: bool,
    run_filter: RunFilter,
    found: Plan,
    cutoff: datetime,
    correct: bool,
) -> tuple[Shape, dict[str, Any]]:
    """The shape of the statement that counts ``found`` (a plan of the filter's range)
    on ``cube``, and its parameters, named as the builders bind them."""
    params = plan_params(found, filter_params(run_filter, cutoff))
    correction = None
    if correct and found.rolled is not None:
        correction = (found.rolled.start is not None, found.rolled.end is not None)
        params["cs"], params["ce"] = found.rolled.start, found.rolled.end
    shape = Shape(
        cube=cube,
        dimensions=tuple(dimensions),
        by_time=by_time,
        pieces=tuple(
            (p.grain, p.start is not None, p.end is not None, p.sign) for p in found.pieces
        ),
        raw_signs=tuple(span.sign for span in found.raw),
        correction=correction,
        filter=FilterShape.of(run_filter),
        outcomes=counted_outcomes(cube, run_filter),
    )
    return shape, params


def positions(statement: Select[Any]) -> dict[str, int]:
    """Each label's index in the rows of ``statement``: rows are then read by name at
    the cost of a tuple index."""
    return {name: index for index, name in enumerate(statement.selected_columns.keys())}


def side_by_side(at: dict[str, int], labels: Sequence[str]) -> slice:
    """The columns ``labels``, which sit side by side in this order, as one slice."""
    start = at[labels[0]] if labels else 0
    assert [at[label] for label in labels] == list(range(start, start + len(labels)))
    return slice(start, start + len(labels))


@dataclass(frozen=True, slots=True)
class PerOutcome:
    """Rows of (k0…, [slot], runs_<outcome>…, [events_<outcome>…]), one per key (and
    slot): the runs and events of each counted outcome side by side."""

    select: Select[Any]
    keys: slice
    slot: int | None
    # Each counted outcome with the index of its runs and of its events (None: the
    # cube has no events).
    outcomes: tuple[tuple[str, int, int | None], ...]


@dataclass(frozen=True, slots=True)
class OutcomeColumns:
    """Rows of (k0…, [slot], runs_<outcome> of each of EFFECTIVE_OUTCOMES, events), one
    per key (and slot): 0 runs for the outcomes the filter leaves out."""

    select: Select[Any]
    keys: slice
    slot: int | None
    runs: slice  # in EFFECTIVE_OUTCOMES order
    events: int


@dataclass(frozen=True, slots=True)
class DistinctValues:
    """Rows of (the keys but the counted one…, outcome, runs, events, distinct,
    subtracted): ``distinct`` counts the counted key's values (missing excepted) that
    have runs in the group; ``subtracted`` the rows that were subtracted."""

    select: Select[Any]
    keys: slice
    outcome: int
    runs: int
    events: int
    distinct: int
    subtracted: int


@lru_cache(maxsize=512)
def per_outcome(shape: Shape) -> PerOutcome:
    """Summed per key (and slot) once in SQL; Python adds up the few rows that still
    share keys and time bucket (the slot is a time inside the row's bucket: the rollup
    bucket, or a run's start at the edges).

    Every part spells keys as the rollups store them ('' and -1 for a missing value),
    so that one GROUP BY sums rollup rows and runs alike; the result spells them as
    the runs table does (NULL, exit codes as text)."""
    rows = _union(shape, events_summed=False)
    keys = _keys(shape, rows)
    slot = [rows.c[SLOT]] if shape.by_time else []
    measures = _measure_labels(shape, events_summed=False)
    sums = [func.sum(rows.c[name]).label(name) for name in measures]
    statement = select(*_spelled_keys(shape, keys), *slot, *sums).group_by(*keys, *slot)
    at = positions(statement)
    return PerOutcome(
        select=statement,
        keys=side_by_side(at, [key_label(i) for i in range(len(keys))]),
        slot=at[SLOT] if shape.by_time else None,
        outcomes=tuple(
            (o, at[runs_label(o)], at[events_label(o)] if shape.cube.has_events else None)
            for o in shape.outcomes
        ),
    )


@lru_cache(maxsize=512)
def outcome_columns(shape: Shape) -> OutcomeColumns:
    """As ``per_outcome``, with a column for every effective outcome (0 for those not
    counted) and the events of all of them in one: what summary, appStats and
    timeSeries read."""
    rows = _union(shape, events_summed=True)
    keys = _keys(shape, rows)
    slot = [rows.c[SLOT]] if shape.by_time else []
    zero = literal_column("0", Integer)
    by_outcome = [
        (func.sum(rows.c[runs_label(o)]) if o in shape.outcomes else zero).label(runs_label(o))
        for o in EFFECTIVE_OUTCOMES
    ]
    events = func.sum(rows.c[EVENTS]) if shape.cube.has_events else zero
    statement = select(
        *_spelled_keys(shape, keys), *slot, *by_outcome, events.label(EVENTS)
    ).group_by(*keys, *slot)
    at = positions(statement)
    return OutcomeColumns(
        select=statement,
        keys=side_by_side(at, [key_label(i) for i in range(len(keys))]),
        slot=at[SLOT] if shape.by_time else None,
        runs=side_by_side(at, [runs_label(o) for o in EFFECTIVE_OUTCOMES]),
        events=at[EVENTS],
    )


@lru_cache(maxsize=512)
def distinct_summed(shape: Shape, counted: int) -> DistinctValues:
    """Runs per key with key ``counted`` (an index in ``shape.dimensions``) summed away
    and its values counted instead, exactly: values are summed first and those netting
    to zero left out. For a cube of one outcome, not by time. A histogram then returns
    one row per bucket, not one per bucket and app."""
    assert not shape.by_time
    rows = _union(shape, events_summed=False)
    keys = _keys(shape, rows)
    runs, events = rows.c[runs_label(_single_outcome(shape))], _events(shape, rows)
    per_value = (
        select(*keys, func.sum(runs).label(RUNS_COLUMN), func.sum(events).label(EVENTS))
        .group_by(*keys)
        .having((func.sum(runs) != 0) | (func.sum(events) != 0))
        .subquery()
    )
    kept = [i for i in range(len(keys)) if i != counted]
    value = func.nullif(per_value.c[key_label(counted)], _missing(shape, counted))
    return _distinct_values(
        select(
            *(_spelled(shape, i, per_value.c[key_label(i)]) for i in kept),
            _outcome_column(shape),
            func.sum(per_value.c[RUNS_COLUMN]).label(RUNS_COLUMN),
            func.sum(per_value.c[EVENTS]).label(EVENTS),
            func.count(value).label(DISTINCT),
            literal_column("0", Integer).label(SUBTRACTED),
        ).group_by(*(per_value.c[key_label(i)] for i in kept)),
        kept,
    )


@lru_cache(maxsize=512)
def distinct_counted(shape: Shape, counted: int) -> DistinctValues:
    """``distinct_summed``'s rows counted with COUNT(DISTINCT …) directly (half the work
    in SQLite), which is exact only when no row is subtracted: ``subtracted`` counts
    the rows that were, for the caller to check. Without the open-run correction."""
    assert not shape.by_time and shape.correction is None
    rows = _union(shape, events_summed=False)
    keys = _keys(shape, rows)
    runs = rows.c[runs_label(_single_outcome(shape))]
    kept = [i for i in range(len(keys)) if i != counted]
    value = func.nullif(keys[counted], _missing(shape, counted))
    return _distinct_values(
        select(
            *(_spelled(shape, i, keys[i]) for i in kept),
            _outcome_column(shape),
            func.sum(runs).label(RUNS_COLUMN),
            func.sum(_events(shape, rows)).label(EVENTS),
            func.count(value.distinct()).label(DISTINCT),
            func.sum(case((runs < 0, 1), else_=0)).label(SUBTRACTED),
        ).group_by(*(keys[i] for i in kept)),
        kept,
    )


def _distinct_values(statement: Select[Any], kept: list[int]) -> DistinctValues:
    at = positions(statement)
    return DistinctValues(
        select=statement,
        keys=side_by_side(at, [key_label(i) for i in kept]),
        outcome=at[OUTCOME],
        runs=at[RUNS_COLUMN],
        events=at[EVENTS],
        distinct=at[DISTINCT],
        subtracted=at[SUBTRACTED],
    )


def sum_of(columns: Sequence[Any]) -> Any:
    total = columns[0]
    for column in columns[1:]:
        total = total + column
    return total


def _single_outcome(shape: Shape) -> str:
    assert len(shape.outcomes) == 1, "distinct values are counted on cubes of one outcome"
    return shape.outcomes[0]


def _outcome_column(shape: Shape) -> ColumnElement[Any]:
    return literal_column(f"'{_single_outcome(shape)}'", String).label(OUTCOME)


def _events(shape: Shape, rows: Subquery) -> Any:
    if not shape.cube.has_events:
        return literal_column("0", Integer)
    return rows.c[events_label(_single_outcome(shape))]


def _keys(shape: Shape, rows: Subquery) -> list[Any]:
    return [rows.c[key_label(i)] for i in range(len(shape.dimensions))]


def _is_code(shape: Shape, index: int) -> bool:
    """The key is the error rollup's integer exit code (else text)."""
    return shape.cube.columns.get(shape.dimensions[index]) == "exit_code"


def _missing(shape: Shape, index: int) -> Any:
    return MISSING_CODE if _is_code(shape, index) else MISSING_TEXT


def _spelled(shape: Shape, index: int, key: Any) -> ColumnElement[Any]:
    """A key as the runs table spells it: NULL for missing, exit codes as text."""
    missing = func.nullif(key, _missing(shape, index))
    return (cast(missing, String) if _is_code(shape, index) else missing).label(key_label(index))


def _spelled_keys(shape: Shape, keys: list[Any]) -> list[ColumnElement[Any]]:
    return [_spelled(shape, i, key) for i, key in enumerate(keys)]


# The parts of the UNION ALL. Each selects (k0…, [slot], measures…), the measures
# labelled by ``_measure_labels``.


def _measure_labels(shape: Shape, events_summed: bool) -> list[str]:
    """The measure columns of every part: runs per counted outcome, then (for a cube
    with events) events per counted outcome, or one column of them all."""
    runs = [runs_label(o) for o in shape.outcomes]
    if not shape.cube.has_events:
        return runs
    return runs + ([EVENTS] if events_summed else [events_label(o) for o in shape.outcomes])


def _measures(
    shape: Shape, events_summed: bool, values: Sequence[ColumnElement[Any]], sign: int = 1
) -> list[ColumnElement[Any]]:
    labels = _measure_labels(shape, events_summed)
    return [
        (value if sign > 0 else -value).label(label)
        for label, value in zip(labels, values, strict=True)
    ]


def _union(shape: Shape, events_summed: bool) -> Subquery:
    parts = [_scan(shape, events_summed, index) for index in range(len(shape.pieces))]
    parts += [_raw_part(shape, events_summed, index) for index in range(len(shape.raw_signs))]
    if shape.correction is not None:
        parts.append(_correction_part(shape, events_summed))
    return (union_all(*parts) if len(parts) > 1 else parts[0]).subquery()


def _scan(shape: Shape, events_summed: bool, index: int) -> Select[Any]:
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
    return select(
        *(cube.column(d).label(key_label(i)) for i, d in enumerate(shape.dimensions)),
        *([table.c.bucket_start.label(SLOT)] if shape.by_time else []),
        *_measures(shape, events_summed, _stored_measures(shape, events_summed), sign),
    ).where(*conditions)


def _stored_measures(shape: Shape, events_summed: bool) -> list[ColumnElement[Any]]:
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
    return _with_event_measures(shape, events_summed, measures)


def _with_event_measures(
    shape: Shape, events_summed: bool, measures: list[ColumnElement[Any]]
) -> list[ColumnElement[Any]]:
    """``measures`` (runs, then events, per counted outcome) with the events as the
    statement counts them: per outcome, all in one column, or none."""
    runs, events = measures[: len(shape.outcomes)], measures[len(shape.outcomes) :]
    if not shape.cube.has_events:
        return runs
    if not events_summed:
        return runs + events
    counting = [m for m in events if not _is_zero(m)]
    return [*runs, sum_of(counting) if counting else literal_column("0", Integer)]


def _is_zero(column: ColumnElement[Any]) -> bool:
    return isinstance(column, ColumnClause) and column.is_literal and column.name == "0"


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


def _run_measures(shape: Shape, events_summed: bool) -> list[ColumnElement[Any]]:
    """The measures of a group of runs: runs, then events (for a cube with events), of
    each counted outcome. A cube of one outcome (or of none) counts every run the
    filter kept."""
    every: ColumnElement[Any] = func.coalesce(func.sum(RUNS.c.event_count), 0)
    if shape.cube.outcome is not None:
        return [func.count(), every][: len(_measure_labels(shape, events_summed))]
    outcome = effective_outcome()
    measures: list[ColumnElement[Any]] = [
        func.sum(case((outcome == o, 1), else_=0)) for o in shape.outcomes
    ]
    if not shape.cube.has_events:
        return measures
    if events_summed or len(shape.outcomes) == 1:  # the filter kept only counted outcomes
        return [*measures, every]
    return measures + [
        func.sum(case((outcome == o, RUNS.c.event_count), else_=0)) for o in shape.outcomes
    ]


def _raw_part(shape: Shape, events_summed: bool, index: int) -> Select[Any]:
    """One partial hour from the runs table, added or subtracted. It lies inside one
    time bucket (buckets are whole hours when rollups are read), so any of its start
    times names it."""
    keys = _run_keys(shape)
    sign = shape.raw_signs[index]
    return (
        select(
            *(key.label(key_label(i)) for i, key in enumerate(keys)),
            *([func.min(RUNS.c.started_at).label(SLOT)] if shape.by_time else []),
            *_measures(shape, events_summed, _run_measures(shape, events_summed), sign),
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


def _correction_part(shape: Shape, events_summed: bool) -> Select[Any]:
    """Open runs seen since the cutoff within the rolled-up span: the rollups count them
    as UNFINISHED, they are IN_PROGRESS. Counted into the one and out of the other
    (where the filter keeps them)."""
    assert shape.correction is not None
    has_start, has_end = shape.correction
    keys = _run_keys(shape)
    slot = [RUNS.c.started_at] if shape.by_time else []
    conditions = [
        RUNS.c.outcome == Outcome.IN_PROGRESS.value,
        RUNS.c.last_seen_at >= time_param("cutoff"),
        *shape.filter.run_conditions(times=False, outcomes=False),
    ]
    if has_start:
        conditions.append(RUNS.c.started_at >= time_param("cs"))
    if has_end:
        conditions.append(RUNS.c.started_at < time_param("ce"))
    moved = {Outcome.IN_PROGRESS.value: 1, Outcome.UNFINISHED.value: -1}
    zero = literal_column("0", Integer)
    runs = [moved[o] * func.count() if o in moved else zero for o in shape.outcomes]
    events = [
        moved[o] * func.coalesce(func.sum(RUNS.c.event_count), 0) if o in moved else zero
        for o in shape.outcomes
    ]
    measures = _with_event_measures(shape, events_summed, runs + events)
    return (
        select(
            *(key.label(key_label(i)) for i, key in enumerate(keys)),
            *(column.label(SLOT) for column in slot),
            *_measures(shape, events_summed, measures),
        )
        .where(*conditions)
        .group_by(*keys, *slot)
    )
