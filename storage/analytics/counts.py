"""Counting runs by keys, outcome and time slot: the one engine behind every aggregate.

A query is answered from the narrowest rollup whose columns cover its grouping and
filter, for the whole hours and days of its range, plus the runs table for the partial
hours at the edges; or entirely from the runs table when no rollup covers it (or when
rollups are switched off, which the tests use to check one path against the other).
Rollups store IN_PROGRESS for every open run; the read-time split into IN_PROGRESS and
UNFINISHED is a correction from the (few) runs seen within the threshold.
"""

from __future__ import annotations

from bisect import bisect_right
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Table, and_, func, literal, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.elements import ColumnElement

from storage.analytics.filters import RunFilter, effective_outcome, run_conditions
from storage.analytics.timeline import Decomposition, Span, bucket_index, decompose
from storage.dimensions import DIMENSIONS, Dimension
from storage.rollup_tables import ROLLUP_APP, ROLLUP_DIMENSION, ROLLUP_ERROR, ROLLUP_TOTAL
from storage.rollups import MISSING_CODE, MISSING_TEXT
from storage.tables import RUNS
from storage.types import UTCDateTime

ANY_OUTCOME = "ANY"
Keys = tuple[str | None, ...]
Totals = dict[tuple[Keys, str, int | None], list[int]]


@dataclass(frozen=True, slots=True)
class CountQuery:
    run_filter: RunFilter
    group_by: tuple[Dimension, ...] = ()
    # Time buckets: their edges in ascending order (n + 1 edges for n buckets); rows then
    # carry the index of their bucket.
    bucket_edges: tuple[datetime, ...] | None = None
    events: bool = False
    failed_only: bool = False
    # False when the caller only sums runs: rows may then come unsplit (outcome ANY).
    by_outcome: bool = True

    @property
    def by_time(self) -> bool:
        return self.bucket_edges is not None

    def edges_on(self, unit: str) -> bool:
        """Every bucket edge is a UTC hour ("h") or day ("d") mark, so rollup rows of
        that grain each fall in exactly one bucket."""
        if self.bucket_edges is None:
            return True
        return all(
            edge.minute == edge.second == edge.microsecond == 0
            and (unit == "h" or edge.astimezone(UTC).hour == 0)
            for edge in (edge.astimezone(UTC) for edge in self.bucket_edges)
        )


@dataclass(frozen=True, slots=True)
class CountRow:
    keys: Keys  # one per group_by dimension, OUTCOME included
    outcome: str  # effective outcome, or ANY when the query did not split by outcome
    bucket: int | None  # index of the time bucket
    runs: int
    events: int


@dataclass(frozen=True, slots=True)
class Cube:
    table: Table
    columns: dict[Dimension, str]
    has_events: bool
    has_outcome: bool = True
    dimension: Dimension | None = None  # rollup_dimension rows for this dimension only

    def column(self, dimension: Dimension) -> ColumnElement[Any]:
        return self.table.c[self.columns[dimension]]


_TOTAL = Cube(ROLLUP_TOTAL, {Dimension.KIND: "kind"}, has_events=True)
_APP = Cube(ROLLUP_APP, {Dimension.KIND: "kind", Dimension.APP: "app"}, has_events=True)
_ERROR = Cube(
    ROLLUP_ERROR,
    {
        Dimension.KIND: "kind",
        Dimension.APP: "app",
        Dimension.EXIT_CODE: "exit_code",
        Dimension.ERROR_CATEGORY: "error_category",
    },
    has_events=False,
)


def _dimension_cube(dimension: Dimension) -> Cube:
    return Cube(
        ROLLUP_DIMENSION,
        {Dimension.KIND: "kind", dimension: "value"},
        has_events=False,
        has_outcome=False,
        dimension=dimension,
    )


def pick_cube(query: CountQuery) -> Cube | None:
    """The narrowest rollup that answers the query exactly, if any does."""
    if not query.edges_on("h") or query.run_filter.os_versions:
        return None
    needed = (set(query.group_by) | query.run_filter.dimensions) - {
        Dimension.KIND,
        Dimension.OUTCOME,
    }
    if query.failed_only and needed <= set(_ERROR.columns):
        return _ERROR
    if not needed:
        return _TOTAL
    if needed == {Dimension.APP}:
        return _APP
    unsplit = not (query.by_outcome or query.run_filter.outcomes or query.failed_only)
    if (
        len(needed) == 1
        and not query.events
        and unsplit
        and Dimension.OUTCOME not in query.group_by
    ):
        return _dimension_cube(needed.pop())
    return None


async def count_runs(
    conn: AsyncConnection, query: CountQuery, cutoff: datetime, use_rollups: bool = True
) -> list[CountRow]:
    """Grouped counts; ``cutoff`` is when a silent open run turns UNFINISHED."""
    cube = pick_cube(query) if use_rollups else None
    totals: Totals = defaultdict(lambda: [0, 0])
    run_filter = query.run_filter
    if query.failed_only:
        if run_filter.outcomes and "FAILED" not in run_filter.outcomes:
            return []
        run_filter = replace(run_filter, outcomes=frozenset({"FAILED"}))
    if cube is None:
        spans = [Span(run_filter.since, run_filter.until)]
        await _add_run_counts(conn, query, run_filter, spans, cutoff, totals)
    else:
        parts = decompose(run_filter.since, run_filter.until, query.edges_on("d"))
        await _add_rollup_counts(conn, query, run_filter, cube, parts, totals)
        await _add_run_counts(conn, query, run_filter, parts.raw, cutoff, totals)
        if parts.rolled is not None and cube.has_outcome:
            await _correct_open_runs(conn, query, run_filter, parts.rolled, cutoff, totals)
    return _rows(query, run_filter, totals)


def _rows(
    query: CountQuery,
    run_filter: RunFilter,
    totals: Totals,
) -> list[CountRow]:
    rows = []
    outcome_at = (
        query.group_by.index(Dimension.OUTCOME) if Dimension.OUTCOME in query.group_by else None
    )
    for (keys, outcome, bucket), (runs, events) in totals.items():
        if runs == 0 and events == 0:
            continue
        if run_filter.outcomes and outcome not in run_filter.outcomes:
            continue
        if outcome_at is not None:
            keys = (*keys[:outcome_at], outcome, *keys[outcome_at:])
        rows.append(CountRow(keys, outcome, bucket, runs, events))
    return rows


def _plain_dimensions(query: CountQuery) -> list[Dimension]:
    return [d for d in query.group_by if d is not Dimension.OUTCOME]


async def _add_rollup_counts(
    conn: AsyncConnection,
    query: CountQuery,
    run_filter: RunFilter,
    cube: Cube,
    parts: Decomposition,
    totals: Totals,
) -> None:
    table = cube.table
    spans = [("h", span) for span in parts.hours] + [("d", span) for span in parts.days]
    if not spans:
        return
    outcome = (
        table.c.outcome
        if cube.has_outcome and cube is not _ERROR
        else literal("FAILED" if cube is _ERROR else ANY_OUTCOME)
    )
    keys = [cube.column(d) for d in _plain_dimensions(query)]
    slot = [table.c.bucket_start] if query.by_time else []
    events = func.sum(table.c.events) if cube.has_events else literal(0)
    statement = (
        select(*keys, outcome, *slot, func.sum(table.c.runs), events)
        .where(or_(*(_grain_span(table, grain, span) for grain, span in spans)))
        .where(*_cube_conditions(cube, run_filter))
        .group_by(
            *keys, *([table.c.outcome] if cube.has_outcome and cube is not _ERROR else []), *slot
        )
    )
    width = len(keys)
    for row in await conn.execute(statement):
        values = tuple(row)
        row_keys = tuple(_from_rollup(value) for value in values[:width])
        stored = values[width]
        effective = "UNFINISHED" if stored == "IN_PROGRESS" else stored
        bucket = _bucket_of(query, values[width + 1]) if query.by_time else None
        entry = totals[(row_keys, effective, bucket)]
        entry[0] += int(values[-2])
        entry[1] += int(values[-1] or 0)


def _from_rollup(value: Any) -> str | None:
    if value in (MISSING_TEXT, MISSING_CODE):
        return None
    return str(value)


def _grain_span(table: Table, grain: str, span: Span) -> ColumnElement[bool]:
    conditions = [table.c.grain == grain]
    if span.start is not None:
        conditions.append(table.c.bucket_start >= literal(span.start, UTCDateTime()))
    if span.end is not None:
        conditions.append(table.c.bucket_start < literal(span.end, UTCDateTime()))
    return and_(*conditions)


def _cube_conditions(cube: Cube, run_filter: RunFilter) -> list[ColumnElement[bool]]:
    conditions = []
    if cube.dimension is not None:
        conditions.append(cube.table.c.dimension == cube.dimension.value)
    for dimension, accepted in run_filter.values.items():
        column = cube.column(dimension)
        if dimension is Dimension.EXIT_CODE and cube is _ERROR:
            conditions.append(column.in_(sorted(_codes(accepted))))
        else:
            conditions.append(column.in_(sorted(accepted)))
    if run_filter.outcomes and cube is not _ERROR:
        conditions.append(cube.table.c.outcome.in_(sorted(run_filter.stored_outcomes())))
    return conditions


def _codes(accepted: frozenset[str]) -> set[int]:
    return {int(value) for value in accepted if value.lstrip("-").isdigit()}


def _bucket_of(query: CountQuery, moment: datetime) -> int:
    assert query.bucket_edges is not None
    return bisect_right(query.bucket_edges, moment) - 1


async def _add_run_counts(
    conn: AsyncConnection,
    query: CountQuery,
    run_filter: RunFilter,
    spans: Sequence[Span],
    cutoff: datetime,
    totals: Totals,
) -> None:
    dimensions = _plain_dimensions(query)
    keys = [DIMENSIONS[d].sql() for d in dimensions]
    outcome = effective_outcome(cutoff)
    slot = [bucket_index(RUNS.c.started_at, query.bucket_edges)] if query.bucket_edges else []
    for span in spans:
        statement = (
            select(*keys, outcome, *slot, func.count(), func.sum(RUNS.c.event_count))
            .where(*run_conditions(run_filter.with_range(span.start, span.end), cutoff))
            .group_by(*keys, outcome, *slot)
        )
        width = len(keys)
        for row in await conn.execute(statement):
            values = tuple(row)
            bucket = int(values[width + 1]) if query.by_time else None
            entry = totals[(tuple(values[:width]), values[width], bucket)]
            entry[0] += int(values[-2])
            entry[1] += int(values[-1] or 0)


async def _correct_open_runs(
    conn: AsyncConnection,
    query: CountQuery,
    run_filter: RunFilter,
    rolled: Span,
    cutoff: datetime,
    totals: Totals,
) -> None:
    """Rollups count every open run as UNFINISHED; move the recent ones to IN_PROGRESS."""
    if run_filter.outcomes and not run_filter.outcomes & {"UNFINISHED", "IN_PROGRESS"}:
        return
    keys = [DIMENSIONS[d].sql() for d in _plain_dimensions(query)]
    plain_filter = replace(run_filter, since=rolled.start, until=rolled.end, outcomes=frozenset())
    statement = select(*keys, RUNS.c.started_at, RUNS.c.event_count).where(
        RUNS.c.outcome == "IN_PROGRESS",
        RUNS.c.last_seen_at >= literal(cutoff, UTCDateTime()),
        *run_conditions(plain_filter, cutoff),
    )
    width = len(keys)
    for row in await conn.execute(statement):
        values = tuple(row)
        row_keys = tuple(values[:width])
        bucket = _bucket_of(query, values[width]) if query.by_time else None
        events = int(values[width + 1])
        for outcome, sign in (("IN_PROGRESS", 1), ("UNFINISHED", -1)):
            entry = totals[(row_keys, outcome, bucket)]
            entry[0] += sign
            entry[1] += sign * events
