"""Recomputing every rollup from the runs table, to repair it or after loading runs.

Live ingest moves rollup counts run by run (storage/rollups.py); ``rebuild_rollups``
empties the rollup tables and refills them with one ``INSERT … SELECT … GROUP BY``
per table, grain and dimension. Hour rows are counted from ``runs``; day rows are
summed from the hour rows, which gives the same numbers (every run's day is its
hour's day) from a far smaller input. Keys follow storage/rollup_spec.py ('' and -1
for missing values) and buckets are spelled exactly as stored: on SQLite the text
'YYYY-MM-DD HH:MM:SS.ffffff' that UTCDateTime writes, cut at the hour or day; on
PostgreSQL ``date_trunc`` of the UTC value.
"""

from __future__ import annotations

from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncConnection

from storage.dimensions import DIMENSIONS, ROLLED_UP_DIMENSIONS
from storage.rollup_spec import (
    BUCKET,
    DIMENSION,
    GRAIN,
    KEY_COLUMNS,
    MEASURES,
    OUTCOME_FILTER,
    RUN_KEY_COLUMNS,
    TABLES,
    VALUE,
)


def bucket_sql(dialect: Dialect, column: str, grain: str) -> str:
    """SQL for the start of ``column``'s UTC hour (``'h'``) or day (``'d'``)."""
    if dialect.name == "sqlite":
        # Stored as naive UTC text with microseconds; SQLite compares that text, so
        # the bucket must be spelled the same way.
        if grain == "h":
            return f"substr({column}, 1, 13) || ':00:00.000000'"
        return f"substr({column}, 1, 10) || ' 00:00:00.000000'"
    unit = "hour" if grain == "h" else "day"
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
    selected += ["COUNT(*)" if measure == "runs" else "SUM(event_count)" for measure in measures]
    grouped = [expressions[key] for key in keys if key not in (GRAIN, DIMENSION)]
    outcome = OUTCOME_FILTER.get(table)
    where = f" WHERE outcome = '{outcome}'" if outcome else ""
    return (
        f"INSERT INTO {table} ({', '.join(keys + measures)}) SELECT {', '.join(selected)} "
        f"FROM runs{where} GROUP BY {', '.join(grouped)}"
    )


def _day_rows(dialect: Dialect, table: str, dimension: str | None) -> str:
    """Day rows summed from the table's hour rows."""
    keys, measures = KEY_COLUMNS[table], MEASURES[table]
    day = bucket_sql(dialect, BUCKET, "d")
    constants = {GRAIN: "'d'", BUCKET: day}
    if dimension is not None:
        constants[DIMENSION] = _literal(dimension)
    selected = [constants.get(key, key) for key in keys]
    selected += [f"SUM({measure})" for measure in measures]
    grouped = [day if key == BUCKET else key for key in keys if key not in (GRAIN, DIMENSION)]
    where = "grain = 'h'" + (f" AND dimension = {_literal(dimension)}" if dimension else "")
    return (
        f"INSERT INTO {table} ({', '.join(keys + measures)}) SELECT {', '.join(selected)} "
        f"FROM {table} WHERE {where} GROUP BY {', '.join(grouped)}"
    )


def rebuild_statements(dialect: Dialect) -> list[str]:
    """The statements that empty and refill every rollup table, in order."""
    statements = [f"DELETE FROM {table.name}" for table in TABLES]
    for table in TABLES:
        per_dimension = DIMENSION in KEY_COLUMNS[table.name]
        names = [d.value for d in ROLLED_UP_DIMENSIONS] if per_dimension else [None]
        for name in names:
            statements.append(_hour_rows(dialect, table.name, name))
            statements.append(_day_rows(dialect, table.name, name))
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
