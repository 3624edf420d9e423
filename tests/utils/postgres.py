"""Fresh PostgreSQL databases per test, cloned from a migrated template."""

from __future__ import annotations

import asyncio
import os
import uuid

import asyncpg
from sqlalchemy.engine import make_url

from storage.engine import open_database
from storage.migrate import upgrade_to_head


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
            asyncio.run(self._execute("SELECT 1"))
        except (OSError, asyncpg.PostgresError) as exc:
            return f"{type(exc).__name__}: {exc}"
        return None

    def fresh_database(self) -> str:
        """URL of a new, fully migrated, empty database."""
        if not self._template_ready:
            self._create_template()
        name = f"{self._prefix}_{len(self._created)}"
        asyncio.run(self._execute(f'CREATE DATABASE "{name}" TEMPLATE "{self._template}"'))
        self._created.append(name)
        return self.url_for(name)

    def url_for(self, name: str) -> str:
        url = make_url(self._admin_url).set(drivername="postgresql+asyncpg", database=name)
        return url.render_as_string(hide_password=False)

    def drop_all(self) -> None:
        for name in [*self._created, self._template]:
            asyncio.run(self._execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))

    def _create_template(self) -> None:
        asyncio.run(self._execute(f'CREATE DATABASE "{self._template}"'))

        async def migrate() -> None:
            database = open_database(self.url_for(self._template))
            try:
                await upgrade_to_head(database.writer)
            finally:
                await database.dispose()

        asyncio.run(migrate())
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
