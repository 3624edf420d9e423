"""Writers sharing one PostgreSQL merge each run under its lock (migration 0009).

Two server processes may each hold reports of the same run at once. The ingest
statement locks the batch's runs and reads them after the locks are granted, with a
snapshot of its own: a writer that waited for another's lock must see the run as the
other committed it, or its upsert would silently drop the other's reports.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest
from sqlalchemy.engine import make_url

from ingest.report import build_report
from storage.ingest_drivers import PostgresIngestDriver
from tests.conftest import STORES

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


@pytest.fixture
def postgres_dsn(request: pytest.FixtureRequest) -> Iterator[str]:
    if "postgres" not in STORES:
        pytest.skip("PostgreSQL-only behaviour; INSTALLSTATS_TEST_STORES excludes postgres")
    url = request.getfixturevalue("postgres_databases").fresh_database()
    yield make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def _bodies(run: int) -> list[dict[str, Any]]:
    run_id = f"00000000-0000-4000-8000-{run:012d}"
    base = {"random_id": run_id, "execution_id": run_id, "type": "lxc", "nsapp": "docker"}
    started = NOW - timedelta(minutes=run % 30)
    return [
        base | {"status": "installing", "timestamp": started.isoformat()},
        base
        | {"status": "configuring", "timestamp": (started + timedelta(seconds=30)).isoformat()},
        base
        | {"status": "success", "exit_code": 0, "install_duration": 60}
        | {"timestamp": (started + timedelta(seconds=60)).isoformat()},
    ]


async def test_a_writer_waiting_for_a_run_lock_reads_the_run_as_its_holder_committed_it(
    postgres_dsn: str,
) -> None:
    driver = PostgresIngestDriver(postgres_dsn)
    try:
        await driver.apply([build_report("telemetry", _bodies(1)[0], NOW)])
    finally:
        await driver.close()
    run_id = _bodies(1)[0]["random_id"]
    holder = await asyncpg.connect(postgres_dsn)
    waiter = await asyncpg.connect(postgres_dsn)
    try:
        await holder.execute("BEGIN")
        await holder.fetch("SELECT id FROM installstats_locked_runs($1::text[])", [run_id])
        await holder.execute("UPDATE runs SET event_count = 99 WHERE id = $1", run_id)

        async def read_under_lock() -> int:
            async with waiter.transaction():
                rows = await waiter.fetch(
                    "SELECT event_count FROM installstats_locked_runs($1::text[])", [run_id]
                )
                return int(rows[0][0])

        waiting = asyncio.create_task(read_under_lock())
        await asyncio.sleep(0.3)
        assert not waiting.done(), "the second writer must wait for the run's lock"
        await holder.execute("COMMIT")
        assert await asyncio.wait_for(waiting, timeout=10) == 99
    finally:
        await holder.close()
        await waiter.close()


async def test_two_writers_merging_reports_of_the_same_runs_lose_none(postgres_dsn: str) -> None:
    runs = range(60)
    writers = [PostgresIngestDriver(postgres_dsn), PostgresIngestDriver(postgres_dsn)]
    # Each run's reports are split between the writers, which go through the runs in
    # step, one report per batch: most runs are merged by both at about the same time.
    shares: list[list[Any]] = [[], []]
    for run in runs:
        for step, body in enumerate(_bodies(run)):
            shares[(run + step) % 2].append(build_report("telemetry", body, NOW))

    async def write(writer: PostgresIngestDriver, reports: list[Any]) -> None:
        for report in reports:
            await writer.apply([report])

    try:
        await asyncio.gather(*(write(w, share) for w, share in zip(writers, shares, strict=True)))
    finally:
        for writer in writers:
            await writer.close()
    connection = await asyncpg.connect(postgres_dsn)
    try:
        stored = await connection.fetch("SELECT status, event_count FROM runs")
    finally:
        await connection.close()
    assert len(stored) == len(runs)
    assert {(row["status"], row["event_count"]) for row in stored} == {("success", 3)}
