"""Migration 0005: SQLite rollups become WITHOUT ROWID tables and keep every row, both
ways; PostgreSQL is left as it was."""

from __future__ import annotations

from typing import Any

from storage.engine import open_database
from storage.migrate import downgrade_to, upgrade_to

ROWS: dict[str, list[tuple[Any, ...]]] = {
    "rollup_total": [("d", "2026-11-01 00:00:00.000000", "INSTALL", "SUCCESS", 5, 12)],
    "rollup_app": [
        ("h", "2026-11-01 13:00:00.000000", "INSTALL", "docker", "FAILED", 2, 6),
        ("d", "2026-11-01 00:00:00.000000", "INSTALL", "docker", "FAILED", 2, 6),
    ],
    "rollup_error": [("d", "2026-11-01 00:00:00.000000", "UPDATE", "", -1, "", 3)],
    "rollup_dimension": [("ARCH", "d", "2026-11-01 00:00:00.000000", "INSTALL", "amd64", 4)],
}


async def _contents(database: Any) -> dict[str, list[tuple[Any, ...]]]:
    async with database.reader.connect() as conn:
        return {
            table: sorted(
                tuple(row) for row in await conn.exec_driver_sql(f"SELECT * FROM {table}")
            )
            for table in ROWS
        }


async def _definitions(database: Any) -> list[str]:
    async with database.reader.connect() as conn:
        result = await conn.exec_driver_sql(
            "SELECT sql FROM sqlite_master WHERE type = 'table' AND name LIKE 'rollup_%'"
        )
        return [str(row[0]) for row in result]


async def test_sqlite_rollups_are_clustered_by_key_and_keep_their_rows(tmp_path) -> None:
    database = open_database(f"sqlite+aiosqlite:///{tmp_path / 'rollups.db'}")
    try:
        await upgrade_to(database.writer, "0004")
        async with database.writer.begin() as conn:
            for table, rows in ROWS.items():
                marks = ", ".join("?" for _ in rows[0])
                await conn.exec_driver_sql(f"INSERT INTO {table} VALUES ({marks})", rows)
        assert not any("WITHOUT ROWID" in sql for sql in await _definitions(database))
        await upgrade_to(database.writer, "0005")
        definitions = await _definitions(database)
        assert len(definitions) == 4 and all("WITHOUT ROWID" in sql for sql in definitions)
        assert await _contents(database) == {t: sorted(rows) for t, rows in ROWS.items()}

        await downgrade_to(database.writer, "0004")
        assert not any("WITHOUT ROWID" in sql for sql in await _definitions(database))
        assert await _contents(database) == {t: sorted(rows) for t, rows in ROWS.items()}
    finally:
        await database.dispose()
