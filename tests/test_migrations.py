"""Migrations build exactly the tables the models describe, on both stores."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy.engine import Connection
from sqlmodel import SQLModel

from storage import rollup_tables, tables
from storage.engine import open_database
from storage.migrate import pending_revisions, upgrade_to_head

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
