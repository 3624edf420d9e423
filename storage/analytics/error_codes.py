"""FAILED runs and their apps per exit code or category, from rollup_error_code.

The apps of a bucket are a union over the range, so they are read as bitmaps
(storage/model/app_bits.py) from pieces that are only ever added (``plan(additive=True)``):
a few hundred rows however many runs there are, where rollup_error holds a row per
app and code. The partial hours at the edges come from the runs table, with each
app's id. One statement, built once per shape.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from sqlalchemy import (
    Integer,
    Row,
    String,
    and_,
    bindparam,
    case,
    cast,
    func,
    literal_column,
    null,
    select,
)
from sqlalchemy import union_all as union_all_
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.selectable import Select

from storage.analytics.counting.bound_filter import (
    FilterShape,
    filter_params,
    plan_params,
    time_param,
    values_param,
)
from storage.analytics.counting.counts import CountRow
from storage.analytics.counting.statements import positions
from storage.analytics.filters import RunFilter
from storage.analytics.timeline import plan
from storage.model.app_bits import app_set
from storage.model.dimensions import Dimension
from storage.model.rollup_spec import MISSING_CODE, MISSING_TEXT
from storage.model.rollup_tables import APP_IDS, ROLLUP_ERROR, ROLLUP_ERROR_CODE, ROLLUP_GRAINS
from storage.model.tables import RUNS

TABLE = ROLLUP_ERROR_CODE
# Between app names in one aggregated text (a control character: no slug has one).
NAME_SEPARATOR = "\x1f"
# The run dimensions the table is keyed by (a filter on any other needs another source).
COLUMNS = {
    Dimension.KIND: "kind",
    Dimension.EXIT_CODE: "exit_code",
    Dimension.ERROR_CATEGORY: "error_category",
}


def answers(run_filter: RunFilter, by: Dimension) -> bool:
    """rollup_error_code can count FAILED runs under this filter, grouped by ``by``."""
    allowed = set(COLUMNS)
    return (
        by in (Dimension.EXIT_CODE, Dimension.ERROR_CATEGORY)
        and run_filter.dimensions <= allowed
        and not run_filter.os_versions
        and (not run_filter.outcomes or "FAILED" in run_filter.outcomes)
    )


@dataclass(frozen=True, slots=True)
class _Shape:
    pieces: tuple[tuple[str, bool, bool], ...]  # grain, has start, has end
    raw: int  # runs-table spans
    filter: FilterShape
    by_code: bool  # grouped by exit code (else by category)


async def failed_by_code(
    conn: AsyncConnection, *, run_filter: RunFilter, by: Dimension, cutoff: datetime
) -> list[CountRow]:
    """Rows of (value of ``by``,) with the FAILED runs and, as ``distinct``, the apps
    that have any (the missing app not counted), for a filter ``answers`` accepts."""
    if not answers(run_filter, by):
        raise ValueError(f"rollup_error_code cannot answer this filter grouped by {by.name}")
    run_filter = RunFilter(
        run_filter.since, run_filter.until, run_filter.values, outcomes=frozenset({"FAILED"})
    )
    found = plan(
        run_filter.since,
        run_filter.until,
        ROLLUP_GRAINS[ROLLUP_ERROR.name],  # the triggers copy its rows' grains
        datetime.now(UTC),
        additive=True,
    )
    params = plan_params(found, filter_params(run_filter, cutoff))
    shape = _Shape(
        pieces=tuple((p.grain, p.start is not None, p.end is not None) for p in found.pieces),
        raw=len(found.raw),
        filter=FilterShape.of(run_filter),
        by_code=by is Dimension.EXIT_CODE,
    )
    built = _statement(shape)
    missing = MISSING_CODE if by is Dimension.EXIT_CODE else MISSING_TEXT
    return [
        _counted(built, row, missing)
        for row in await conn.execute(built.select, params)
        if row[built.runs]
    ]


def _counted(built: _PerValue, row: Row[Any], missing: object) -> CountRow:
    """A value's row: its runs, and its apps as the bitmaps of rollup rows, the ids of
    apps of runs at the edges and the names of any the triggers have not numbered."""
    apps = 0
    for bits in (row[built.bitmaps] or "").split():
        apps |= app_set(bits)
    for app_id in (row[built.app_ids] or "").split():
        apps |= 1 << int(app_id)
    unnumbered = set((row[built.app_names] or "").split(NAME_SEPARATOR)) - {""}
    value = row[built.value]
    return CountRow(
        keys=(None if value == missing else str(value),),
        outcome="FAILED",
        bucket=None,
        runs=int(row[built.runs]),
        events=0,
        distinct=apps.bit_count() + len(unnumbered),
    )


@dataclass(frozen=True, slots=True)
class _PerValue:
    """Rows of (value, runs, bitmaps, app_ids, app_names) per value of the grouped
    column, and where each of them sits in a row (found by label)."""

    select: Select[Any]
    value: int
    runs: int
    bitmaps: int  # the rollup rows' app bitmaps, space-separated
    app_ids: int  # the ids of the apps of runs at the edges, space-separated
    app_names: int  # apps the triggers have not numbered yet, NAME_SEPARATOR between


@lru_cache(maxsize=256)
def _statement(shape: _Shape) -> _PerValue:
    """The rows of ``_PerValue``: the parts' rows are (exit code, category, runs,
    bitmap, app id, app name), a bitmap from each rollup row, an app id (or name) from
    each group of runs of the partial hours. Summed and joined in SQL, so that a few
    dozen rows come back, not thousands."""
    parts = [_scan(shape, index) for index in range(len(shape.pieces))]
    parts += [_raw(shape, index) for index in range(shape.raw)]
    rows = (union_all_(*parts) if len(parts) > 1 else parts[0]).subquery()
    key = rows.c.exit_code if shape.by_code else rows.c.error_category
    named = case((rows.c.app_id.is_(None), rows.c.app), else_=None)
    statement = select(
        key.label("value"),
        func.sum(rows.c.runs).label("runs"),
        func.aggregate_strings(rows.c.apps, " ").label("bitmaps"),
        func.aggregate_strings(cast(rows.c.app_id, String), " ").label("app_ids"),
        func.aggregate_strings(named, NAME_SEPARATOR).label("app_names"),
    ).group_by(key)
    at = positions(statement)
    return _PerValue(
        statement, at["value"], at["runs"], at["bitmaps"], at["app_ids"], at["app_names"]
    )


def _scan(shape: _Shape, index: int) -> Select[Any]:
    grain, has_start, has_end = shape.pieces[index]
    conditions = [TABLE.c.grain == grain, TABLE.c.runs != 0, *_table_filter(shape)]
    if has_start:
        conditions.append(TABLE.c.bucket_start >= time_param(f"a{index}"))
    if has_end:
        conditions.append(TABLE.c.bucket_start < time_param(f"b{index}"))
    return select(
        TABLE.c.exit_code.label("exit_code"),
        TABLE.c.error_category.label("error_category"),
        TABLE.c.runs.label("runs"),
        TABLE.c.apps,
        null().cast(Integer).label("app_id"),
        null().cast(String).label("app"),
    ).where(*conditions)


def _table_filter(shape: _Shape) -> list[ColumnElement[bool]]:
    conditions = []
    for dimension in shape.filter.filtered:
        column = TABLE.c[COLUMNS[dimension]]
        name = "codes" if dimension is Dimension.EXIT_CODE else values_param(dimension)
        conditions.append(column.in_(bindparam(name, expanding=True)))
    return conditions


def _raw(shape: _Shape, index: int) -> Select[Any]:
    """FAILED runs of one partial hour, per code, category and app, with the app's id."""
    code = func.coalesce(RUNS.c.exit_code, MISSING_CODE)
    category = func.coalesce(RUNS.c.error_category, MISSING_TEXT)
    keys: Sequence[ColumnElement[Any]] = (code, category, APP_IDS.c.id, RUNS.c.app)
    return (
        select(
            code.label("exit_code"),
            category.label("error_category"),
            func.count().label("runs"),
            literal_column("NULL", String).label("apps"),
            APP_IDS.c.id.label("app_id"),
            RUNS.c.app.label("app"),
        )
        .select_from(RUNS.outerjoin(APP_IDS, APP_IDS.c.app == RUNS.c.app))
        .where(
            and_(
                RUNS.c.started_at >= time_param(f"rs{index}"),
                RUNS.c.started_at < time_param(f"re{index}"),
                *shape.filter.run_conditions(times=False),
            )
        )
        .group_by(*keys)
    )
