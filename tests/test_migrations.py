"""Migrations build exactly the tables the models describe, on both stores."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import column, func, insert, select, table
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError
from sqlmodel import SQLModel

from storage.engine import open_database
from storage.migrate import downgrade_to, pending_revisions, upgrade_to, upgrade_to_head
from storage.model import rollup_tables, tables
from storage.model.rollup_tables import ROLLUP_APP, ROLLUP_TOTAL
from storage.model.tables import EVENTS
from storage.model.types import UTCDateTime

MODELS = (tables, rollup_tables)  # importing them registers their tables in the metadata


def _differences(connection: Connection) -> list[object]:
    context = MigrationContext.configure(connection, opts={"compare_type": True})
    return list(compare_metadata(context, SQLModel.metadata))


async def test_migrated_schema_matches_the_models(database_url: str) -> None:
    database = open_database(database_url)
    try:
        await upgrade_to_head(database.writer)
        async with database.writer.connect() as conn:
            differences = await conn.run_sync(_differences)
        assert differences == []
        assert await pending_revisions(database.writer) == []
    finally:
        await database.dispose()


async def test_migrating_twice_is_a_no_op(database_url: str) -> None:
    database = open_database(database_url)
    try:
        await upgrade_to_head(database.writer)
        await upgrade_to_head(database.writer)
        assert await pending_revisions(database.writer) == []
    finally:
        await database.dispose()


async def test_dimension_rollup_migration_keeps_counts_summed_over_outcome(tmp_path) -> None:
    """0004 drops the outcome from rollup_dimension; existing counts must survive."""
    database = open_database(f"sqlite+aiosqlite:///{tmp_path / 'old.db'}")
    try:
        await upgrade_to(database.writer, "0003")
        rows = [
            ("OS_TYPE", "d", "2026-11-01 00:00:00.000000", "INSTALL", "SUCCESS", "debian", 5),
            ("OS_TYPE", "d", "2026-11-01 00:00:00.000000", "INSTALL", "FAILED", "debian", 2),
            ("OS_TYPE", "d", "2026-11-01 00:00:00.000000", "INSTALL", "FAILED", "alpine", 1),
            ("OS_TYPE", "d", "2026-11-01 00:00:00.000000", "UPDATE", "SUCCESS", "debian", 4),
            ("ARCH", "h", "2026-11-01 13:00:00.000000", "INSTALL", "IN_PROGRESS", "", 0),
        ]
        async with database.writer.begin() as conn:
            await conn.exec_driver_sql(
                "INSERT INTO rollup_dimension (dimension, grain, bucket_start, kind, outcome, "
                "value, runs) VALUES (?, ?, ?, ?, ?, ?, ?)",
                rows,
            )
        await upgrade_to_head(database.writer)
        async with database.reader.connect() as conn:
            result = await conn.exec_driver_sql(
                "SELECT dimension, kind, value, runs FROM rollup_dimension ORDER BY kind, value"
            )
            assert [tuple(row) for row in result] == [
                ("OS_TYPE", "INSTALL", "alpine", 1),
                ("OS_TYPE", "INSTALL", "debian", 7),
                ("OS_TYPE", "UPDATE", "debian", 4),
            ]
    finally:
        await database.dispose()


async def test_postgres_error_rows_carry_their_counts_in_the_key_index(
    database_url: str,
) -> None:
    """0008: errorHistogram by app reads rollup_error by index only. 0012 gave
    rollup_app a column per outcome and a plain key (ten measures would double it)."""
    database = open_database(database_url)
    try:
        await upgrade_to_head(database.writer)
        async with database.writer.connect() as conn:
            if conn.dialect.name != "postgresql":
                return  # SQLite stores rollups in key order (0005): nothing to include
            result = await conn.exec_driver_sql(
                "SELECT tablename, indexdef FROM pg_indexes WHERE schemaname = current_schema() "
                "AND indexname IN ('rollup_app_pkey', 'rollup_error_pkey')"
            )
            definitions = {str(table): str(sql) for table, sql in map(tuple, result)}
    finally:
        await database.dispose()
    assert definitions["rollup_app"].endswith("(grain, bucket_start, kind, app)")
    assert definitions["rollup_error"].endswith(
        "(grain, bucket_start, kind, app, exit_code, error_category) INCLUDE (runs)"
    )


def _event(run_id: str, dedup_key: str) -> dict[str, object]:
    moment = datetime(2026, 11, 1, 12, tzinfo=UTC)
    return {
        "run_id": run_id,
        "dedup_key": dedup_key,
        "source": "telemetry",
        "kind": "INSTALL",
        "status_raw": "installing",
        "status": "INSTALLING",
        "received_at": moment,
        "event_time": moment,
        "raw": {"nsapp": "docker"},
    }


async def test_events_migration_keeps_every_event_and_dedup_keys_stay_unique_per_run(
    database_url: str,
) -> None:
    """0010 swaps events' unique dedup key and run index for one (run_id, dedup_key)
    unique index; the events survive it both ways."""
    database = open_database(database_url)
    stored = [_event("run-a", "k1"), _event("run-a", "k2"), _event("run-b", "k3")]

    async def pairs() -> list[tuple[str, str]]:
        async with database.reader.connect() as conn:
            rows = await conn.execute(
                select(EVENTS.c.run_id, EVENTS.c.dedup_key).order_by(EVENTS.c.id)
            )
            return [(str(run), str(key)) for run, key in rows]

    try:
        await upgrade_to(database.writer, "0009")
        async with database.writer.begin() as conn:
            await conn.execute(insert(EVENTS), stored)
        await upgrade_to_head(database.writer)
        assert await pairs() == [("run-a", "k1"), ("run-a", "k2"), ("run-b", "k3")]
        with pytest.raises(IntegrityError):
            async with database.writer.begin() as conn:
                await conn.execute(insert(EVENTS), [_event("run-a", "k2")])
        await downgrade_to(database.writer, "0009")
        assert await pairs() == [("run-a", "k1"), ("run-a", "k2"), ("run-b", "k3")]
        with pytest.raises(IntegrityError):  # 0009's key was unique across runs
            async with database.writer.begin() as conn:
                await conn.execute(insert(EVENTS), [_event("run-c", "k3")])
        await upgrade_to_head(database.writer)
        async with database.reader.connect() as conn:
            assert await conn.scalar(select(func.count()).select_from(EVENTS)) == 3
    finally:
        await database.dispose()


_OLD_OUTCOME_ROWS: dict[str, list[tuple[Any, ...]]] = {
    "rollup_total": [
        ("d", datetime(2026, 11, 1, tzinfo=UTC), "INSTALL", "SUCCESS", 5, 12),
        ("d", datetime(2026, 11, 1, tzinfo=UTC), "INSTALL", "IN_PROGRESS", 1, 1),
        ("h", datetime(2026, 11, 1, 13, tzinfo=UTC), "UPDATE", "UNKNOWN", 3, 3),
    ],
    "rollup_app": [
        ("d", datetime(2026, 11, 1, tzinfo=UTC), "INSTALL", "docker", "SUCCESS", 5, 12),
        ("d", datetime(2026, 11, 1, tzinfo=UTC), "INSTALL", "docker", "FAILED", 2, 6),
        ("d", datetime(2026, 11, 1, tzinfo=UTC), "INSTALL", "docker", "IN_PROGRESS", 1, 1),
        ("d", datetime(2026, 11, 1, tzinfo=UTC), "INSTALL", "nginx", "ABORTED", 0, 0),
        ("m", datetime(2026, 11, 1, tzinfo=UTC), "UPDATE", "", "UNKNOWN", 3, 3),
    ],
}


def _old_outcome_table(name: str) -> Any:
    keys = ["grain", "bucket_start", "kind", *(["app"] if name == "rollup_app" else [])]
    columns = [column(key, UTCDateTime() if key == "bucket_start" else None) for key in keys]
    return table(name, *columns, column("outcome"), column("runs"), column("events"))


async def test_outcome_columns_migration_keeps_every_count_both_ways(database_url: str) -> None:
    """0012 turns the outcome rows of rollup_total and rollup_app into columns, and back."""
    database = open_database(database_url)

    async def old_rows() -> dict[str, list[tuple[Any, ...]]]:
        async with database.reader.connect() as conn:
            found = {}
            for name in _OLD_OUTCOME_ROWS:
                result = await conn.execute(select(_old_outcome_table(name)))
                found[name] = sorted(tuple(row) for row in result)
            return found

    try:
        # At 0011 whether the store is empty or migrated already (PostgreSQL's are).
        await upgrade_to(database.writer, "0011")
        await downgrade_to(database.writer, "0011")
        async with database.writer.begin() as conn:
            for name, rows in _OLD_OUTCOME_ROWS.items():
                old = _old_outcome_table(name)
                await conn.execute(
                    insert(old), [dict(zip(old.c.keys(), row, strict=True)) for row in rows]
                )
        await upgrade_to(database.writer, "0012")
        async with database.reader.connect() as conn:
            docker = (
                (await conn.execute(select(ROLLUP_APP).where(ROLLUP_APP.c.app == "docker")))
                .one()
                ._mapping
            )
            totals = (await conn.execute(select(func.count()).select_from(ROLLUP_TOTAL))).scalar()
        assert (docker["runs_success"], docker["runs_failed"], docker["runs_in_progress"]) == (
            5,
            2,
            1,
        )
        assert (docker["events_success"], docker["events_failed"], docker["runs_unknown"]) == (
            12,
            6,
            0,
        )
        assert totals == 2  # one row per grain, bucket and kind
        await downgrade_to(database.writer, "0011")
        # Back as they were, but for the row that counted nothing.
        expected = {
            name: sorted(r for r in rows if r[-2:] != (0, 0))
            for name, rows in _OLD_OUTCOME_ROWS.items()
        }
        assert await old_rows() == expected
    finally:
        await database.dispose()
