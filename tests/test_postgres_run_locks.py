"""Writers sharing one PostgreSQL never lose each other's reports (migration 0009).

Two server processes may each hold reports of the same run at once. A writer reads
the batch's runs (or takes what it remembers writing: storage/writer/written_runs.py), merges
them in Python and writes everything in one statement, which updates a run only if its
event count is still the one merged from; otherwise the statement fails as a conflict,
stores nothing, and the writer reads and merges the batch again.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest
from sqlalchemy.engine import make_url

from ingest.merge import fold
from ingest.report import build_report
from storage.model.rollup_tables import STORED_OUTCOMES, events_column, runs_column
from storage.writer.drivers import PostgresIngestDriver
from storage.writer.plan import ingest_plan
from storage.writer.sql import WRITE_CONFLICT, ingest_sql
from storage.writer.written_runs import WrittenRuns
from tests.conftest import STORES

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
# Every run and every event of a rollup_total row, whatever their outcome.
RUNS = " + ".join(map(runs_column, STORED_OUTCOMES))
EVENTS = " + ".join(map(events_column, STORED_OUTCOMES))


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


async def test_a_write_after_another_writer_changed_the_run_fails_and_stores_nothing(
    postgres_dsn: str,
) -> None:
    installing, configuring, success = (build_report("telemetry", body, NOW) for body in _bodies(1))
    first, second = PostgresIngestDriver(postgres_dsn), PostgresIngestDriver(postgres_dsn)
    connection = await asyncpg.connect(postgres_dsn)
    try:
        await first.apply([installing])
        # The first writer reads and merges ``configuring``; before it writes, the
        # second stores ``success`` for the same run.
        plan = ingest_plan(ingest_sql("postgresql"), [configuring])
        step, rows = plan.send(None), None
        while "installstats_check_writes" not in step.sql:
            rows = await connection.fetch(step.sql, *step.params)
            step = plan.send(rows)
        await second.apply([success])
        with pytest.raises(asyncpg.PostgresError) as conflict:
            await connection.fetch(step.sql, *step.params)
        assert conflict.value.sqlstate == WRITE_CONFLICT
        assert await connection.fetchval("SELECT count(*) FROM events") == 2
        # Applied again, the batch is merged onto what the second writer stored.
        await first.apply([configuring])
        run = await connection.fetchrow("SELECT status, event_count FROM runs")
        assert (run["status"], run["event_count"]) == ("success", 3)
        assert (
            await connection.fetchval(f"SELECT sum({EVENTS}) FROM rollup_total WHERE grain = 'd'")
            == 3
        )
    finally:
        await connection.close()
        await first.close()
        await second.close()


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


async def test_a_writer_that_does_not_remember_the_run_still_merges_it_and_its_duplicates(
    postgres_dsn: str,
) -> None:
    """A new writer (a restart, another replica) takes unknown runs for new and unknown
    reports for unstored: its first write conflicts and the batch is read instead."""
    installing, configuring, success = (build_report("telemetry", body, NOW) for body in _bodies(2))
    first, restarted = PostgresIngestDriver(postgres_dsn), PostgresIngestDriver(postgres_dsn)
    connection = await asyncpg.connect(postgres_dsn)
    try:
        await first.apply([installing, configuring])
        results, _ = await restarted.apply([configuring, success])
        assert [accepted.duplicate for accepted in results] == [True, False]
        run = await connection.fetchrow("SELECT status, event_count FROM runs")
        assert (run["status"], run["event_count"]) == ("success", 3)
        assert await connection.fetchval("SELECT count(*) FROM events") == 3
        totals = await connection.fetchrow(
            f"SELECT sum({RUNS}) AS runs, sum({EVENTS}) AS events FROM rollup_total "
            "WHERE grain = 'd'"
        )
        assert (totals["runs"], totals["events"]) == (1, 3)
    finally:
        await connection.close()
        await first.close()
        await restarted.close()


def test_a_batch_of_remembered_runs_is_merged_without_reading() -> None:
    sql = ingest_sql("postgresql")
    installing, configuring, success = (build_report("telemetry", body, NOW) for body in _bodies(3))
    written = WrittenRuns()
    stored = fold(None, installing)
    written.remember([installing], [stored])
    first_step = ingest_plan(sql, [installing, configuring], written).send(None)
    assert "installstats_check_writes" in first_step.sql
    # What it stands in for the read: the stored run, and the stored report's key.
    assert written.lookup([installing, success], [installing.run_id]) == (
        {installing.dedup_key},
        [stored],
    )
    written.forget([success])
    assert written.lookup([installing], [installing.run_id]) == (set(), [])
    # An unknown run is taken for new: the plan goes straight to the write too.
    assert "installstats_check_writes" in ingest_plan(sql, [success], written).send(None).sql
    assert "installstats_check_writes" not in ingest_plan(sql, [success]).send(None).sql


def test_the_writer_remembers_the_runs_it_wrote_last_up_to_its_capacity() -> None:
    written = WrittenRuns(capacity=2)
    reports = [build_report("telemetry", _bodies(run)[0], NOW) for run in range(3)]
    for report in reports:
        written.remember([report], [fold(None, report)])
    run_ids = [report.run_id for report in reports]
    known, stored = written.lookup(reports, run_ids)
    assert [run["id"] for run in stored] == run_ids[1:]
    assert known == {report.dedup_key for report in reports[1:]}


async def test_a_batch_that_deadlocks_with_another_transaction_is_written_again(
    postgres_dsn: str,
) -> None:
    """A batch's error rows move rollup_error_code rows through triggers (migration
    0011), so two transactions can wait for each other; PostgreSQL then fails one
    statement (40P01), and the writer's is merged and written again, not refused."""

    def failed(run: int) -> Any:
        run_id = f"00000000-0000-4000-9000-{run:012d}"
        body: dict[str, object] = {
            "random_id": run_id,
            "execution_id": run_id,
            "type": "lxc",
            "nsapp": "docker",
        }
        body |= {"status": "failed", "exit_code": 100, "timestamp": NOW.isoformat()}
        return build_report("telemetry", body, NOW)

    writer = PostgresIngestDriver(postgres_dsn)
    # The other transaction waits 60 s before it looks for a deadlock: the writer looks
    # first (after PostgreSQL's default second) and is the one whose statement fails.
    other = await asyncpg.connect(postgres_dsn, server_settings={"deadlock_timeout": "60s"})
    try:
        await writer.apply([failed(1)])
        transaction = other.transaction()
        await transaction.start()
        await other.execute("UPDATE rollup_error_code SET runs = runs WHERE grain = 'd'")
        second = asyncio.create_task(writer.apply([failed(2)]))
        await _until_the_writer_waits_for_a_lock(other)
        # The writer holds its error rows and waits for the code row: take an error row.
        await other.execute("UPDATE rollup_error SET runs = runs WHERE grain = 'd'")
        await transaction.commit()
        await asyncio.wait_for(second, timeout=30)
        row = await other.fetchrow(
            "SELECT runs, apps FROM rollup_error_code WHERE grain = 'd' AND exit_code = 100"
        )
        assert await other.fetchval("SELECT count(*) FROM runs WHERE outcome = 'FAILED'") == 2
        assert (row["runs"], row["apps"]) == (2, "2")  # docker is app 1
    finally:
        await other.close()
        await writer.close()


async def _until_the_writer_waits_for_a_lock(connection: asyncpg.Connection) -> None:
    for _ in range(400):
        waiting = await connection.fetchval(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = $1 "
            "AND wait_event_type = 'Lock'",
            "installstats-writer",
        )
        if waiting:
            return
        await asyncio.sleep(0.05)
    raise AssertionError("the writer never waited for the lock")
