"""Migrations build exactly the tables the models describe, on both stores."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import func, insert, select
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError
from sqlmodel import SQLModel

from storage import rollup_tables, tables
from storage.engine import open_database
from storage.migrate import alembic_config, pending_revisions, upgrade_to, upgrade_to_head
from storage.tables import EVENTS

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


async def test_postgres_rollups_read_by_app_carry_their_counts_in_the_key_index(
    database_url: str,
) -> None:
    """0008: appStats and errorHistogram read rollup_app/rollup_error by index only."""
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
    assert definitions["rollup_app"].endswith(
        "(grain, bucket_start, kind, app, outcome) INCLUDE (runs, events)"
    )
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

    def downgrade(connection: Connection) -> None:
        config = alembic_config()
        config.attributes["connection"] = connection
        command.downgrade(config, "0009")

    try:
        await upgrade_to(database.writer, "0009")
        async with database.writer.begin() as conn:
            await conn.execute(insert(EVENTS), stored)
        await upgrade_to_head(database.writer)
        assert await pairs() == [("run-a", "k1"), ("run-a", "k2"), ("run-b", "k3")]
        with pytest.raises(IntegrityError):
            async with database.writer.begin() as conn:
                await conn.execute(insert(EVENTS), [_event("run-a", "k2")])
        async with database.writer.begin() as conn:
            await conn.run_sync(downgrade)
        assert await pairs() == [("run-a", "k1"), ("run-a", "k2"), ("run-b", "k3")]
        with pytest.raises(IntegrityError):  # 0009's key was unique across runs
            async with database.writer.begin() as conn:
                await conn.execute(insert(EVENTS), [_event("run-c", "k3")])
        await upgrade_to_head(database.writer)
        async with database.reader.connect() as conn:
            assert await conn.scalar(select(func.count()).select_from(EVENTS)) == 3
    finally:
        await database.dispose()
