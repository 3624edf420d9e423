"""Fixtures chained settings -> app -> client, over both stores, fresh database per test.

Stores come from INSTALLSTATS_TEST_STORES (default "sqlite,postgres"). PostgreSQL cases
are skipped with the reason when no server answers at INSTALLSTATS_TEST_POSTGRES_URL,
unless INSTALLSTATS_TEST_REQUIRE_POSTGRES=1 (CI), where that is a failure.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from server import create_app
from service.settings import Settings
from storage.engine import Database, open_database
from storage.migrate import upgrade_to_head
from tests.utils.postgres import PostgresDatabases

STORES = [
    name.strip()
    for name in os.environ.get("INSTALLSTATS_TEST_STORES", "sqlite,postgres").split(",")
    if name.strip()
]
POSTGRES_URL = os.environ.get(
    "INSTALLSTATS_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
REQUIRE_POSTGRES = os.environ.get("INSTALLSTATS_TEST_REQUIRE_POSTGRES") == "1"


@pytest.fixture(scope="session")
def postgres_databases() -> Iterator[PostgresDatabases]:
    databases = PostgresDatabases(POSTGRES_URL)
    problem = databases.check()
    if problem is not None:
        if REQUIRE_POSTGRES:
            pytest.fail(f"PostgreSQL is required but not reachable at {POSTGRES_URL}: {problem}")
        pytest.skip(f"PostgreSQL not reachable at {POSTGRES_URL} ({problem}); SQLite still runs")
    yield databases
    databases.drop_all()


@pytest.fixture(params=STORES)
def store(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def database_url(store: str, tmp_path: Path, request: pytest.FixtureRequest) -> str:
    if store == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'installstats.db'}"
    databases: PostgresDatabases = request.getfixturevalue("postgres_databases")
    return databases.fresh_database()


@pytest.fixture
def settings(database_url: str) -> Settings:
    return Settings(database_url=database_url, unfinished_after_seconds=3 * 3600)


@pytest.fixture
def app(settings: Settings) -> web.Application:
    return create_app(settings)


@pytest.fixture
async def client(aiohttp_client, app: web.Application) -> AsyncIterator[TestClient]:  # type: ignore[type-arg]
    """A real server on a real 127.0.0.1 port, with the app's startup and cleanup."""
    yield await aiohttp_client(app)


@pytest.fixture
async def database(database_url: str) -> AsyncIterator[Database]:
    """The store migrated to head, without a server: for tests that drive the writer."""
    database = open_database(database_url)
    await upgrade_to_head(database.writer)
    yield database
    await database.dispose()
