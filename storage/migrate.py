"""Applying Alembic migrations found next to this module, from any working directory."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"


def alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    return config


async def upgrade_to_head(engine: AsyncEngine) -> None:
    await upgrade_to(engine, "head")


async def upgrade_to(engine: AsyncEngine, revision: str) -> None:
    await _migrate(engine, command.upgrade, revision)


async def downgrade_to(engine: AsyncEngine, revision: str) -> None:
    """Undo the migrations after ``revision`` (tests check that each can be undone)."""
    await _migrate(engine, command.downgrade, revision)


async def _migrate(
    engine: AsyncEngine, migrate: Callable[[Config, str], None], revision: str
) -> None:
    config = alembic_config()

    def run(connection: Connection) -> None:
        config.attributes["connection"] = connection
        migrate(config, revision)

    async with engine.begin() as connection:
        await connection.run_sync(run)


async def pending_revisions(engine: AsyncEngine) -> list[str]:
    """Revisions not yet applied; empty when the schema is current."""
    script = ScriptDirectory.from_config(alembic_config())

    def current(connection: Connection) -> set[str]:
        return set(MigrationContext.configure(connection).get_current_heads())

    async with engine.connect() as connection:
        applied = await connection.run_sync(current)
    heads = set(script.get_heads())
    return sorted(heads - applied) if not heads <= applied else []
