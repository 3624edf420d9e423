"""Fresh PostgreSQL databases per test, cloned from a migrated template."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Coroutine
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import asyncpg
from sqlalchemy.engine import make_url

from storage.engine import open_database
from storage.migrate import upgrade_to_head

T = TypeVar("T")


def _run(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run to completion, also when called from inside a running event loop (module-scoped
    async fixtures ask for databases from within theirs)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coroutine)
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


class PostgresDatabases:
    def __init__(self, admin_url: str) -> None:
        self._admin_url = admin_url
        self._prefix = f"installstats_test_{os.getpid()}_{uuid.uuid4().hex[:6]}"
        self._template = f"{self._prefix}_template"
        self._created: list[str] = []
        self._template_ready = False

    def check(self) -> str | None:
        """None when the server answers, else why not."""
        try:
            _run(self._execute("SELECT 1"))
        except (OSError, asyncpg.PostgresError) as exc:
            return f"{type(exc).__name__}: {exc}"
        return None

    def fresh_database(self) -> str:
        """URL of a new, fully migrated, empty database."""
        if not self._template_ready:
            self._create_template()
        name = f"{self._prefix}_{len(self._created)}"
        _run(self._execute(f'CREATE DATABASE "{name}" TEMPLATE "{self._template}"'))
        self._created.append(name)
        return self.url_for(name)

    def url_for(self, name: str) -> str:
        url = make_url(self._admin_url).set(drivername="postgresql+asyncpg", database=name)
        return url.render_as_string(hide_password=False)

    def drop_all(self) -> None:
        for name in [*self._created, self._template]:
            _run(self._execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))

    def _create_template(self) -> None:
        _run(self._execute(f'CREATE DATABASE "{self._template}"'))

        async def migrate() -> None:
            database = open_database(self.url_for(self._template))
            try:
                await upgrade_to_head(database.writer)
            finally:
                await database.dispose()

        _run(migrate())
        self._template_ready = True

    async def _execute(self, sql: str) -> None:
        url = make_url(self._admin_url)
        conn = await asyncpg.connect(
            host=url.host or "127.0.0.1",
            port=url.port or 5432,
            user=url.username or "postgres",
            password=url.password,
            database=url.database or "postgres",
        )
        try:
            await conn.execute(sql)
        finally:
            await conn.close()
