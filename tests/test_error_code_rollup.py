"""rollup_error_code: the triggers keep it equal to what rollup_error sums to.

Every way error rows change — inserts, added deltas, counts going to zero and back,
deletes, changed keys, apps without a name, ids past the first few hexadecimal digits
— and every writer — live ingest with corrected terminals, bulk seeding, rebuilding,
migrating a store that already holds error rows — must leave rollup_error_code equal
to a plain-Python sum of rollup_error: runs per code row, and the set of apps whose
error row counts a run.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import delete, text, update
from sqlalchemy.dialects.postgresql import insert as postgres_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from cli.seed import rebuild_database_rollups, seed_database
from ingest.report import build_report
from storage.engine import open_database
from storage.migrate import downgrade_to, upgrade_to_head
from storage.model.app_bits import app_ids, app_set, union_size, with_app_bit
from storage.model.rollup_tables import ROLLUP_ERROR
from storage.writer.group_commit import IngestWriter
from tests.utils.bulk_store import (
    connected,
    error_code_rows,
    error_code_rows_of_error_rows,
    rows,
)
from tests.utils.reference_data import generate_dataset, load_dataset
from tests.utils.run_scenarios import generate_runs

BUCKETS = (datetime(2026, 11, 1, 13, tzinfo=UTC), datetime(2026, 11, 2, tzinfo=UTC))
NOW = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=5)


def test_bitmaps_add_and_remove_apps_like_a_set() -> None:
    rng = random.Random(7)
    bits, expected = "", set[int]()
    for _ in range(3000):
        app = rng.randrange(1, 600)
        present = rng.random() < 0.6
        bits = with_app_bit(bits, app, present)
        if present:
            expected.add(app)
        else:
            expected.discard(app)
        assert app_ids(app_set(bits)) == expected
        assert not bits.endswith("0"), "equal sets must be equal texts"
    assert with_app_bit(bits, None, True) == bits
    assert with_app_bit("", 5, False) == ""
    assert union_size(["2", "4", "", None, "6"]) == 2  # apps 1 and 2


async def test_postgres_app_bit_gives_the_texts_python_gives(database_url: str) -> None:
    database = open_database(database_url)
    try:
        await upgrade_to_head(database.writer)
        async with database.writer.connect() as conn:
            if conn.dialect.name != "postgresql":
                return  # SQLite calls with_app_bit itself
            rng = random.Random(3)
            bits = ""
            for _ in range(400):
                app, present = rng.choice([None, *range(0, 300)]), rng.random() < 0.6
                stored = await conn.scalar(
                    text("SELECT installstats_app_bit(:bits, :app, :present)"),
                    {"bits": bits, "app": app, "present": present},
                )
                assert stored == with_app_bit(bits, app, present), (bits, app, present)
                bits = stored
    finally:
        await database.dispose()


async def _assert_code_rows_follow(conn: AsyncConnection) -> None:
    assert await error_code_rows(conn) == await error_code_rows_of_error_rows(conn)


async def test_every_change_of_error_rows_moves_the_code_rows_with_it(database_url: str) -> None:
    rng = random.Random(11)
    apps = ["", *(f"app-{n:03d}" for n in range(150))]
    keys: list[tuple[Any, ...]] = []
    database = open_database(database_url)
    try:
        await upgrade_to_head(database.writer)
        for step in range(60):
            async with database.writer.begin() as conn:
                for _ in range(rng.randint(1, 25)):
                    await _change_an_error_row(conn, rng, apps, keys)
            if step % 10 == 9:
                async with database.reader.connect() as conn:
                    await _assert_code_rows_follow(conn)
        async with database.reader.connect() as conn:
            await _assert_code_rows_follow(conn)
            counted = await rows(conn, "SELECT COUNT(*) FROM rollup_error_code WHERE apps <> ''")
            assert counted[0][0] > 0
            assert await rows(conn, "SELECT COUNT(*) FROM app_ids WHERE app = ''") == [(0,)]
    finally:
        await database.dispose()


async def _change_an_error_row(
    conn: AsyncConnection, rng: random.Random, apps: list[str], keys: list[tuple[Any, ...]]
) -> None:
    table = ROLLUP_ERROR
    action = rng.choice(["add", "add", "add", "zero", "delete", "rekey"]) if keys else "add"
    if action == "add":
        key = _new_key(rng, apps) if not keys or rng.random() < 0.5 else rng.choice(keys)
        if key not in keys:
            keys.append(key)
        insert = (sqlite_insert if conn.dialect.name == "sqlite" else postgres_insert)(table)
        statement = insert.values(**_columns(key), runs=rng.choice([1, 1, 2, 5]))
        await conn.execute(
            statement.on_conflict_do_update(
                index_elements=list(_columns(key)),
                set_={"runs": table.c.runs + statement.excluded.runs},
            )
        )
        return
    key = rng.choice(keys)
    where = [table.c[name] == value for name, value in _columns(key).items()]
    if action == "zero":
        await conn.execute(update(table).where(*where).values(runs=0))
    elif action == "delete":
        keys.remove(key)
        await conn.execute(delete(table).where(*where))
    else:
        moved = _new_key(rng, apps)
        if moved in keys:
            return
        keys.remove(key)
        keys.append(moved)
        await conn.execute(update(table).where(*where).values(**_columns(moved)))


def _new_key(rng: random.Random, apps: list[str]) -> tuple[Any, ...]:
    grain = rng.choice("hd")
    return (grain, BUCKETS[grain == "d"], rng.choice(["INSTALL", "UPDATE"]), rng.choice(apps),
            rng.choice([-1, 1, 100, 127]), rng.choice(["", "dependency"]))  # fmt: skip


def _columns(key: tuple[Any, ...]) -> dict[str, Any]:
    names = ("grain", "bucket_start", "kind", "app", "exit_code", "error_category")
    return dict(zip(names, key, strict=True))


async def test_live_ingest_with_corrected_terminals_keeps_the_code_rows(database_url: str) -> None:
    """Scenarios with "force" corrections (a failed run later reported a success, and
    the other way round) move error rows to zero and back through the real writer."""
    scenarios = generate_runs(5, 120, NOW - timedelta(days=3))
    received = datetime.now(UTC)
    reports = [build_report("telemetry", body, received) for s in scenarios for body in s.bodies]
    database = open_database(database_url)
    try:
        await upgrade_to_head(database.writer)
        writer = IngestWriter(database, queue_size=10_000, batch_size=64)
        writer.start()
        try:
            # One at a time: a correction in the same batch as the report it corrects
            # would net out before it reached the rollups.
            for report in reports:
                await writer.submit(report)
        finally:
            await writer.close()
        async with database.reader.connect() as conn:
            await _assert_code_rows_follow(conn)
            zeroed = await rows(conn, "SELECT COUNT(*) FROM rollup_error WHERE runs = 0")
            assert zeroed[0][0] > 0, "no error row went back to zero: no correction was tested"
    finally:
        await database.dispose()


async def test_seeded_and_rebuilt_stores_keep_the_code_rows(database_url: str) -> None:
    await seed_database(database_url, runs=3000, days=40, seed=9, now=NOW, workers=0)
    async with connected(database_url) as conn:
        seeded = await error_code_rows(conn)
        assert seeded == await error_code_rows_of_error_rows(conn)
        assert any(len(apps) > 1 for *_, apps in seeded)
    await rebuild_database_rollups(database_url)
    async with connected(database_url) as conn:
        assert await error_code_rows(conn) == seeded


async def test_migration_0011_fills_the_code_rows_from_the_error_rows_there(
    database_url: str,
) -> None:
    """Down to 0010 (the code rollup and its triggers gone, the error rows kept) and up
    again: the upgrade numbers the apps and sums the error rows it finds."""
    await load_dataset(database_url, generate_dataset(17, runs=600, days=30, now=NOW))
    database = open_database(database_url)
    try:
        async with database.reader.connect() as conn:
            before = await error_code_rows(conn)
            error_rows = await rows(conn, "SELECT * FROM rollup_error ORDER BY 1, 2, 3, 4, 5, 6")
        await downgrade_to(database.writer, "0010")
        async with database.reader.connect() as conn:
            tables = await rows(conn, _TABLES_SQL[conn.dialect.name])
            assert ("rollup_error_code",) not in tables and ("app_ids",) not in tables
            kept = await rows(conn, "SELECT * FROM rollup_error ORDER BY 1, 2, 3, 4, 5, 6")
            assert kept == error_rows
        await upgrade_to_head(database.writer)
        async with database.reader.connect() as conn:
            await _assert_code_rows_follow(conn)
            assert await error_code_rows(conn) == before != []
    finally:
        await database.dispose()


_TABLES_SQL = {
    "sqlite": "SELECT name FROM sqlite_master WHERE type = 'table'",
    "postgresql": "SELECT tablename FROM pg_tables WHERE schemaname = current_schema()",
}
