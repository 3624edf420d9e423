"""Recomputing every rollup from the runs table, to repair it or after loading runs.

Live ingest moves rollup counts run by run (storage/writer/rollup_deltas.py); ``rebuild_rollups``
empties the rollup tables and refills them with one ``INSERT … SELECT … GROUP BY``
per table, grain and dimension. Hour rows are counted from ``runs``; day rows are
summed from the hour rows and month rows from the day rows, which gives the same
numbers (every run's day is its hour's day) from a far smaller input. Keys follow
storage/model/rollup_spec.py ('' and -1 for missing values) and buckets are spelled exactly
as stored: on SQLite the text 'YYYY-MM-DD HH:MM:SS.ffffff' that UTCDateTime writes,
cut at the hour, day or month; on PostgreSQL ``date_trunc`` of the UTC value.
"""

from __future__ import annotations

from itertools import pairwise

from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncConnection

from storage.model.dimensions import DIMENSIONS, ROLLED_UP_DIMENSIONS
from storage.model.rollup_spec import (
    BUCKET,
    DIMENSION,
    GRAIN,
    KEY_COLUMNS,
    MEASURE_RULES,
    MEASURES,
    OUTCOME_FILTER,
    RUN_KEY_COLUMNS,
    TABLES,
    VALUE,
    Measure,
)
from storage.model.rollup_tables import ROLLUP_ERROR_CODE, ROLLUP_GRAINS

_SQLITE_BUCKETS = {
    "h": "substr({column}, 1, 13) || ':00:00.000000'",
    "d": "substr({column}, 1, 10) || ' 00:00:00.000000'",
    "m": "substr({column}, 1, 7) || '-01 00:00:00.000000'",
}
_POSTGRES_UNITS = {"h": "hour", "d": "day", "m": "month"}


def bucket_sql(dialect: Dialect, column: str, grain: str) -> str:
    """SQL for the start of ``column``'s UTC hour (``'h'``), day (``'d'``) or month
    (``'m'``)."""
    if dialect.name == "sqlite":
        # Stored as naive UTC text with microseconds; SQLite compares that text, so
        # the bucket must be spelled the same way.
        return _SQLITE_BUCKETS[grain].format(column=column)
    unit = _POSTGRES_UNITS[grain]
    return f"date_trunc('{unit}', {column} AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'"


def _literal(value: str | int) -> str:
    return f"'{value}'" if isinstance(value, str) else str(value)


def _hour_rows(dialect: Dialect, table: str, dimension: str | None) -> str:
    """Hour rows counted from the runs table (of one dimension, for rollup_dimension)."""
    keys, measures = KEY_COLUMNS[table], MEASURES[table]
    expressions: dict[str, str] = {GRAIN: "'h'", BUCKET: bucket_sql(dialect, "started_at", "h")}
    if dimension is not None:
        value = DIMENSIONS[next(d for d in ROLLED_UP_DIMENSIONS if d.value == dimension)].sql()
        compiled = value.compile(dialect=dialect, compile_kwargs={"literal_binds": True})
        expressions[DIMENSION] = _literal(dimension)
        expressions[VALUE] = f"COALESCE({compiled}, '')"
    for column, missing in RUN_KEY_COLUMNS.items():
        expressions[column] = (
            column if missing is None else f"COALESCE({column}, {_literal(missing)})"
        )
    selected = [expressions[key] for key in keys]
    selected += [_measure_sql(MEASURE_RULES[measure]) for measure in measures]
    grouped = [expressions[key] for key in keys if key not in (GRAIN, DIMENSION)]
    outcome = OUTCOME_FILTER.get(table)
    where = f" WHERE outcome = '{outcome}'" if outcome else ""
    return (
        f"INSERT INTO {table} ({', '.join(keys + measures)}) SELECT {', '.join(selected)} "
        f"FROM runs{where} GROUP BY {', '.join(grouped)}"
    )


def _measure_sql(measure: Measure) -> str:
    counted = "event_count" if measure.counts_events else "1"
    if measure.outcome is None:
        return "SUM(event_count)" if measure.counts_events else "COUNT(*)"
    return f"SUM(CASE WHEN outcome = '{measure.outcome}' THEN {counted} ELSE 0 END)"


def _coarser_rows(
    dialect: Dialect, table: str, dimension: str | None, grain: str, finer: str
) -> str:
    """Rows of ``grain`` summed from the table's rows of the next finer grain."""
    keys, measures = KEY_COLUMNS[table], MEASURES[table]
    bucket = bucket_sql(dialect, BUCKET, grain)
    constants = {GRAIN: f"'{grain}'", BUCKET: bucket}
    if dimension is not None:
        constants[DIMENSION] = _literal(dimension)
    selected = [constants.get(key, key) for key in keys]
    selected += [f"SUM({measure})" for measure in measures]
    grouped = [bucket if key == BUCKET else key for key in keys if key not in (GRAIN, DIMENSION)]
    where = f"grain = '{finer}'" + (f" AND dimension = {_literal(dimension)}" if dimension else "")
    return (
        f"INSERT INTO {table} ({', '.join(keys + measures)}) SELECT {', '.join(selected)} "
        f"FROM {table} WHERE {where} GROUP BY {', '.join(grouped)}"
    )


def rebuild_statements(dialect: Dialect) -> list[str]:
    """The statements that empty and refill every rollup table, in order.

    rollup_error_code is emptied first and refilled by rollup_error's triggers
    (migration 0011) as its rows go back in: a rebuild repairs it too, and deleting the
    error rows then costs its triggers no more than a probe each."""
    statements = [f"DELETE FROM {ROLLUP_ERROR_CODE.name}"]
    statements += [f"DELETE FROM {table.name}" for table in TABLES]
    for table in TABLES:
        per_dimension = DIMENSION in KEY_COLUMNS[table.name]
        names = [d.value for d in ROLLED_UP_DIMENSIONS] if per_dimension else [None]
        for name in names:
            statements.append(_hour_rows(dialect, table.name, name))
            grains = ROLLUP_GRAINS[table.name]
            for finer, grain in pairwise(grains):
                statements.append(_coarser_rows(dialect, table.name, name, grain, finer))
    return statements


async def rebuild_rollups(conn: AsyncConnection) -> None:
    """Make every rollup table equal to what live ingest would hold for the runs table,
    in ``conn``'s transaction (readers see the old rollups until it commits).

    Ingest running meanwhile waits: on PostgreSQL the runs table is locked against
    writes (SHARE), on SQLite the writer's BEGIN IMMEDIATE already excludes others, so
    no report can move a rollup between the counting and the commit.
    """
    if conn.dialect.name == "postgresql":
        await conn.exec_driver_sql("LOCK TABLE runs IN SHARE MODE")
    for statement in rebuild_statements(conn.dialect):
        await conn.exec_driver_sql(statement)
