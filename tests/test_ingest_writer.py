"""The group-commit writer's store drivers (storage/writer/drivers.py), on both stores.

The drivers write with sqlite3/asyncpg directly, not through SQLAlchemy; these tests
pin that what they write reads back through SQLAlchemy exactly as the merge produced
it, that batches larger than one statement's rows are stored whole, and that the
rollups they maintain equal a rebuild from the runs table.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import signal
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Table, func, select

from ingest.report import Report, build_report
from ingest.run_record import RunRecord
from storage.engine import Database
from storage.model.rollup_tables import (
    ROLLUP_APP,
    ROLLUP_DIMENSION,
    ROLLUP_ERROR,
    ROLLUP_TOTAL,
    STORED_OUTCOMES,
    events_column,
    runs_column,
)
from storage.model.tables import EVENTS, RUNS
from storage.writer.drivers import open_ingest_driver
from storage.writer.group_commit import IngestWriter
from storage.writer.plan import BatchResult
from storage.writer.process_main import apply_together, waiting_batches
from storage.writer.protocol import STOP, Batch, Failed, Stored
from storage.writer.sql import SQLITE_CHUNK_ROWS

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


def _run_bodies(index: int) -> list[dict[str, Any]]:
    run_id = f"00000000-0000-4000-8000-{index:012d}"
    base = {
        "random_id": run_id,
        "execution_id": run_id,
        "type": "lxc",
        "nsapp": ("docker", "jellyfin", "pihole")[index % 3],
        "os_type": "debian",
        "os_version": ("12", "13")[index % 2],
        "ram_size": 2048,
        "has_arm": index % 4 == 0,
    }
    started = NOW - timedelta(hours=index % 50, minutes=index % 7)
    terminal: dict[str, Any] = {"status": "success", "exit_code": 0, "install_duration": 90}
    if index % 5 == 0:
        terminal = {"status": "failed", "exit_code": 127, "error": "command not found"}
    return [
        base | {"status": "installing", "timestamp": started.isoformat()},
        base
        | {"status": "configuring", "timestamp": (started + timedelta(seconds=30)).isoformat()},
        base | terminal | {"timestamp": (started + timedelta(seconds=90)).isoformat()},
    ]


@pytest.fixture(params=["process", "thread"])
def writer_mode(request: pytest.FixtureRequest) -> str:
    """Where the writer runs (INSTALLSTATS_INGEST_WRITER): both store the same."""
    return str(request.param)


async def _write(
    database: Database, bodies: Sequence[dict[str, Any]], batch_size: int, mode: str
) -> dict[str, RunRecord]:
    published: dict[str, RunRecord] = {}

    def remember(runs: Sequence[RunRecord]) -> None:
        published.update((run["id"], run) for run in runs)

    writer = IngestWriter(
        database,
        queue_size=len(bodies) + 1,
        batch_size=batch_size,
        separate_process=mode == "process",
    )
    writer.add_commit_listener(remember)
    writer.start()
    try:
        reports = [build_report("telemetry", body, NOW) for body in bodies]
        accepted = await writer.submit_many(reports)
    finally:
        await writer.close()
    assert not any(item.duplicate for item in accepted)
    return published


async def test_a_batch_larger_than_one_statement_stores_every_report(
    database: Database, writer_mode: str
) -> None:
    # Three reports each, not a power of two: one batch spans several statements per table.
    runs = SQLITE_CHUNK_ROWS + 3
    bodies = [body for index in range(runs) for body in _run_bodies(index)]
    published = await _write(database, bodies, batch_size=len(bodies), mode=writer_mode)
    assert len(published) == runs
    async with database.reader.connect() as conn:
        assert await conn.scalar(select(func.count()).select_from(EVENTS)) == len(bodies)
        assert await conn.scalar(select(func.count()).select_from(RUNS)) == runs
        events = await conn.scalar(select(func.sum(RUNS.c.event_count)))
    assert events == len(bodies)


async def test_runs_read_back_through_sqlalchemy_as_the_merge_made_them(
    database: Database, writer_mode: str
) -> None:
    bodies = [body for index in range(40) for body in _run_bodies(index)]
    # Small batches: most runs are merged onto a stored row, read back by the driver.
    published = await _write(database, bodies, batch_size=4, mode=writer_mode)
    async with database.reader.connect() as conn:
        stored = {row.id: dict(row._mapping) for row in await conn.execute(select(RUNS))}
    assert stored == published
    sample = stored["00000000-0000-4000-8000-000000000004"]
    assert sample["has_arm"] is True and sample["exit_code_inferred"] is False
    assert sample["started_at"].tzinfo is UTC and sample["finished_at"] > sample["started_at"]


async def test_a_writer_process_sends_runs_back_only_while_a_listener_wants_them(
    database: Database,
) -> None:
    heard: list[int] = []
    wanted = [False]
    writer = IngestWriter(database, queue_size=100, batch_size=16, separate_process=True)
    writer.add_commit_listener(lambda runs: heard.append(len(runs)), wanted=lambda: wanted[0])
    writer.start()
    try:
        for index, want in ((0, False), (1, True), (2, False)):
            wanted[0] = want
            reports = [build_report("telemetry", body, NOW) for body in _run_bodies(index)]
            await writer.submit_many(reports)
    finally:
        await writer.close()
    # Each run's three reports in one batch: one changed run, sent only when wanted.
    assert heard == [0, 1, 0]


async def test_maintained_rollups_equal_their_definition_over_the_runs(
    database: Database, writer_mode: str
) -> None:
    bodies = [body for index in range(90) for body in _run_bodies(index)]
    # Runs finish in later batches than they start: their rows move between outcomes.
    await _write(database, bodies, batch_size=7, mode=writer_mode)
    async with database.reader.connect() as conn:
        runs = [dict(row._mapping) for row in await conn.execute(select(RUNS))]
        rollups = {
            table.name: await _counted(conn, table)
            for table in (ROLLUP_TOTAL, ROLLUP_APP, ROLLUP_ERROR, ROLLUP_DIMENSION)
        }
    day = {
        run["id"]: run["started_at"].replace(hour=0, minute=0, second=0, microsecond=0)
        for run in runs
    }
    expected_app: dict[tuple[Any, ...], list[int]] = {}
    expected_error: dict[tuple[Any, ...], int] = {}
    expected_os: dict[tuple[Any, ...], int] = {}
    for run in runs:
        key = ("d", day[run["id"]], run["kind"], run["app"], run["outcome"])
        counts = expected_app.setdefault(key, [0, 0])
        counts[0] += 1
        counts[1] += run["event_count"]
        if run["outcome"] == "FAILED":
            code = -1 if run["exit_code"] is None else run["exit_code"]
            error = (
                "d",
                day[run["id"]],
                run["kind"],
                run["app"],
                code,
                run["error_category"] or "",
            )
            expected_error[error] = expected_error.get(error, 0) + 1
        os_key = ("OS_VERSION", "d", day[run["id"]], run["kind"], f"debian {run['os_version']}")
        expected_os[os_key] = expected_os.get(os_key, 0) + 1
    daily = {k: v for k, v in rollups["rollup_app"].items() if k[0] == "d"}
    assert daily == {k: tuple(v) for k, v in expected_app.items()}
    errors = {k: v[0] for k, v in rollups["rollup_error"].items() if k[0] == "d"}
    assert errors == expected_error
    os_versions = {
        k: v[0]
        for k, v in rollups["rollup_dimension"].items()
        if k[0] == "OS_VERSION" and k[1] == "d"
    }
    assert os_versions == expected_os
    hourly_runs = sum(v[0] for k, v in rollups["rollup_total"].items() if k[0] == "h")
    assert hourly_runs == len(runs)


async def _counted(conn: Any, table: Table) -> dict[tuple[Any, ...], tuple[int, ...]]:
    """Rows that count something, keys to measures; a table with a column per outcome
    as (keys…, outcome) to (runs, events)."""
    keys = [column.name for column in table.primary_key.columns]
    counted: dict[tuple[Any, ...], tuple[int, ...]] = {}
    for row in (row._mapping for row in await conn.execute(select(table))):
        key = tuple(row[name] for name in keys)
        if "runs" in row:
            measures = tuple(row[name] for name in ("runs", "events") if name in row)
            if any(measures):
                counted[key] = measures
            continue
        for outcome in STORED_OUTCOMES:
            runs, events = row[runs_column(outcome)], row[events_column(outcome)]
            if runs or events:
                counted[(*key, outcome)] = (runs, events)
    return counted


async def test_a_writer_process_that_died_is_replaced_for_the_next_batch(
    database: Database,
) -> None:
    bodies = [body for index in range(3) for body in _run_bodies(index)]
    reports = [build_report("telemetry", body, NOW) for body in bodies]
    writer = IngestWriter(database, queue_size=10, batch_size=4, separate_process=True)
    writer.start()
    try:
        assert not (await writer.submit(reports[0])).duplicate
        os.kill(writer.process_id(), signal.SIGKILL)
        accepted = await writer.submit_many(reports[1:])
        assert not any(item.duplicate for item in accepted)
    finally:
        await writer.close()
    async with database.reader.connect() as conn:
        assert await conn.scalar(select(func.count()).select_from(EVENTS)) == len(bodies)


async def test_a_failing_batch_in_the_writer_process_fails_only_its_report(
    database: Database,
) -> None:
    """An error in the writer process crosses the process boundary: the report at fault
    gets it, the others of its batch are stored (storage/writer/group_commit.py isolates it)."""
    good = [build_report("telemetry", body, NOW) for body in _run_bodies(1)]
    # A body that cannot be stored as JSON: the batch fails in the writer process.
    bad = replace(good[0], dedup_key="unstorable", raw={"value": object()})
    writer = IngestWriter(database, queue_size=10, batch_size=8, separate_process=True)
    writer.start()
    try:
        results = await asyncio.gather(
            *(writer.submit(report) for report in [*good, bad]), return_exceptions=True
        )
    finally:
        await writer.close()
    assert [isinstance(result, Exception) for result in results] == [False, False, False, True]
    async with database.reader.connect() as conn:
        assert await conn.scalar(select(func.count()).select_from(EVENTS)) == len(good)


def test_the_writer_process_takes_every_list_already_sent_up_to_the_batch_size() -> None:
    ours, theirs = multiprocessing.Pipe()
    reports = [build_report("telemetry", body, NOW) for body in _run_bodies(7)]
    for size in (1, 2, 3):
        ours.send(Batch(reports[:size], True))
    ours.send(Batch(reports[:1], False))
    ours.send(STOP)
    taken, stopping = waiting_batches(theirs, batch_size=5)
    assert ([len(batch.reports) for batch in taken], stopping) == ([1, 2, 3], False)
    taken, stopping = waiting_batches(theirs, batch_size=5)
    assert ([(len(b.reports), b.want_runs) for b in taken], stopping) == ([(1, False)], True)


async def test_lists_stored_together_are_answered_each_and_a_bad_one_fails_alone(
    database: Database,
) -> None:
    """The writer process stores the lists waiting in one transaction; when that fails,
    each list in its own, so only the list holding the bad report is refused."""
    good = [build_report("telemetry", body, NOW) for body in _run_bodies(2)]
    more = [build_report("telemetry", body, NOW) for body in _run_bodies(3)]
    fresh = [build_report("telemetry", body, NOW) for body in _run_bodies(4)]
    bad = replace(good[0], dedup_key="unstorable", raw={"value": object()})
    driver = open_ingest_driver(database, batch_size=16)

    def apply(reports: list[Report]) -> BatchResult:
        return asyncio.run_coroutine_threadsafe(driver.apply(reports), loop).result()

    loop = asyncio.get_running_loop()
    try:
        together = await asyncio.to_thread(
            apply_together,
            apply,
            [Batch(good[:2], True), Batch(good[2:], False), Batch(more, False)],
        )
        failing = await asyncio.to_thread(
            apply_together,
            apply,
            [Batch(fresh[:2], True), Batch([bad], True), Batch(fresh[2:], False)],
        )
    finally:
        await driver.close()
    assert [type(answer) for answer in together] == [Stored, Stored, Stored]
    stored = [answer.result for answer in together if isinstance(answer, Stored)]
    assert [len(accepted) for accepted, _ in stored] == [2, 1, 3]
    # The runs the transaction changed come once, with the last answer.
    assert [len(runs) for _, runs in stored] == [0, 0, 2]
    assert [type(answer) for answer in failing] == [Stored, Failed, Stored]
    alone = [answer.result for answer in failing if isinstance(answer, Stored)]
    # Stored one by one, each list gets the runs only if its sender wanted them.
    assert [len(runs) for _, runs in alone] == [1, 0]
    assert not any(report.duplicate for accepted, _ in alone for report in accepted)
    async with database.reader.connect() as conn:
        assert await conn.scalar(select(func.count()).select_from(EVENTS)) == 9
