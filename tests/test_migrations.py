"""Migrations build exactly the tables the models describe, on both stores."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy.engine import Connection
from sqlmodel import SQLModel

from storage import rollup_tables, tables
from storage.engine import open_database
from storage.migrate import pending_revisions, upgrade_to, upgrade_to_head

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
