"""Bulk loading: the demo-data generator, ``bulk_load`` and ``rebuild_rollups``.

- generated runs are exactly what live ingest would merge from their generated events
  (so a seeded store looks like an ingested one), and the mix is the promised one;
- ``rebuild_rollups`` gives the rollups live ingest maintains (pinned against the real
  writer), and a seeded store's rollups equal a rebuild;
- a seeded store holds N runs with their events and nothing in the future, the same
  seed gives the same store with or without worker processes, indexes and SQLite
  settings come back, and a store that already holds runs is refused.
"""

from __future__ import annotations

import sqlite3
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from operator import itemgetter
from pathlib import Path
from typing import Any

import orjson
import pytest
from sqlalchemy import func, select

from cli.main import main
from cli.seed import SeedReport, rebuild_database_rollups, seed_database
from ingest.merge import fold_all
from ingest.report import build_report
from seed.apps import APPS
from seed.generator import SeedChunk, SeedPlan, generate_block, generate_chunks
from storage.bulk.load import StoreNotEmpty, bulk_load
from storage.engine import open_database
from storage.migrate import upgrade_to_head
from storage.model.rollup_tables import STORED_OUTCOMES, events_column, runs_column
from storage.model.tables import EVENTS, RUNS
from tests.utils.bulk_store import connected, index_definitions, rollup_snapshot, rows, scalar
from tests.utils.postgres import PostgresDatabases
from tests.utils.reference_data import generate_dataset, load_dataset

NOW = datetime(2026, 11, 27, 12, 30, tzinfo=UTC)
SEEDED_RUNS = 3000
SEEDED_DAYS = 30


def generated(runs: int, days: float = SEEDED_DAYS, seed: int = 5) -> SeedChunk:
    chunks = list(generate_chunks(runs, days, seed, now=NOW))
    return SeedChunk(
        [run for chunk in chunks for run in chunk.runs],
        [event for chunk in chunks for event in chunk.events],
    )


async def seed(database_url: str, **options: Any) -> SeedReport:
    arguments: dict[str, Any] = {
        "runs": SEEDED_RUNS, "days": SEEDED_DAYS, "seed": 5, "now": NOW, "workers": 0,
    }  # fmt: skip
    return await seed_database(database_url, **(arguments | options))


# -- the generator ---------------------------------------------------------------------


def test_generated_runs_are_what_ingest_merges_from_their_events() -> None:
    chunk = generated(5000)
    events_of: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for event in chunk.events:
        events_of[event["run_id"]].append(event)
    for run in chunk.runs:
        reports = []
        for event in events_of.pop(run["id"]):
            report = build_report(event["source"], orjson.loads(event["raw"]), event["received_at"])
            assert (
                report.run_id, report.dedup_key, report.kind, report.status_raw, report.status,
                report.event_time, report.client_time, report.values.get("payload_version"),
            ) == (
                event["run_id"], event["dedup_key"], event["kind"], event["status_raw"],
                event["status"], event["event_time"], event["client_time"],
                event["payload_version"],
            )  # fmt: skip
            assert report.raw == orjson.loads(event["raw"])  # nothing scrubbed or dropped
            reports.append(report)
        assert fold_all(reports) == run
    assert not events_of  # no event without its run


def test_generated_mix_is_the_promised_one() -> None:
    chunk = generated(20_000, days=365)
    runs = chunk.runs
    outcomes = Counter(run["outcome"] for run in runs)
    share = {outcome: count / len(runs) for outcome, count in outcomes.items()}
    assert 0.76 <= share["SUCCESS"] <= 0.84
    assert 0.09 <= share["FAILED"] <= 0.15
    assert 0.03 <= share["ABORTED"] <= 0.06
    assert 0.005 <= share["UNKNOWN"] <= 0.02
    assert 0.01 <= share["IN_PROGRESS"] <= 0.05
    assert 0.08 <= sum(run["kind"] == "UPDATE" for run in runs) / len(runs) <= 0.12
    assert all(run["id"].startswith("update:") == (run["kind"] == "UPDATE") for run in runs)
    per_app = Counter(run["app"] for run in runs).most_common()
    assert len(per_app) >= 250  # a long tail over the ~350 apps
    assert per_app[0][1] > 20 * per_app[100][1] > 0
    installs = [run for run in runs if run["kind"] == "INSTALL" and run["type"] == "lxc"]
    assert 2.8 <= sum(run["event_count"] for run in installs) / len(installs) <= 3.5
    addons = [run for run in runs if run["type"] == "addon" and run["outcome"] != "IN_PROGRESS"]
    assert addons and all(run["event_count"] == 1 for run in addons)
    durations = Counter(
        (run["kind"], run["duration_seconds"]) for run in runs if run["outcome"] == "SUCCESS"
    )
    assert None not in {seconds for _, seconds in durations}
    assert all(30 <= (seconds or 0) <= 3600 for kind, seconds in durations if kind == "INSTALL")
    assert all(5 <= (seconds or 0) <= 1200 for kind, seconds in durations if kind == "UPDATE")
    assert len(durations) > 1000  # spread, not a handful of values
    failed_codes = Counter(run["exit_code"] for run in runs if run["outcome"] == "FAILED")
    assert len(failed_codes) >= 30 and None not in failed_codes
    assert {130, 143, 129} <= {run["exit_code"] for run in runs if run["outcome"] == "ABORTED"}
    assert {("debian", "12"), ("debian", "13"), ("ubuntu", "24.04"), ("alpine", "3.22")} <= {
        (run["os_type"], run["os_version"]) for run in runs
    }
    assert any((run["pve_version"] or "").startswith("incus-") for run in installs)
    assert all(NOW - timedelta(days=365) <= run["started_at"] <= NOW for run in runs)
    assert max(event["event_time"] for event in chunk.events) <= NOW


def test_each_block_can_be_generated_on_its_own() -> None:
    plan = SeedPlan(8_000, SEEDED_DAYS, 5, NOW)
    in_order = list(generate_chunks(8_000, SEEDED_DAYS, 5, now=NOW))
    assert len(in_order) == plan.blocks >= 2
    assert generate_block(plan, plan.blocks - 1) == in_order[-1]
    assert generate_block(SeedPlan(8_000, SEEDED_DAYS, 6, NOW), 0).runs != in_order[0].runs


def test_app_catalogue_has_about_350_apps_of_every_type() -> None:
    assert 330 <= len(APPS) <= 400
    assert {app.type for app in APPS} == {"lxc", "vm", "addon", "pve", "tool", "turnkey"}


async def test_bulk_loaded_rows_read_back_as_generated(database_url: str) -> None:
    chunk = generated(3000)
    database = open_database(database_url)
    try:
        await upgrade_to_head(database.writer)
        result = await bulk_load(database, generate_chunks(3000, SEEDED_DAYS, 5, now=NOW))
        async with database.reader.connect() as conn:
            runs = [dict(row._mapping) for row in await conn.execute(select(RUNS))]
            events = [dict(row._mapping) for row in await conn.execute(select(EVENTS))]
    finally:
        await database.dispose()
    assert (result.runs, result.events) == (3000, len(chunk.events))
    assert sorted(runs, key=itemgetter("id")) == sorted(chunk.runs, key=itemgetter("id"))
    for event in events:
        del event["id"]
    expected = [event | {"raw": orjson.loads(event["raw"])} for event in chunk.events]
    assert sorted(events, key=itemgetter("dedup_key")) == sorted(
        expected, key=itemgetter("dedup_key")
    )


# -- rebuild_rollups against live ingest -------------------------------------------------


async def test_rebuilt_rollups_equal_the_ones_live_ingest_maintained(database_url: str) -> None:
    now = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=5)
    await load_dataset(database_url, generate_dataset(3, runs=400, days=20, now=now))
    live = await rollup_snapshot(database_url)
    assert all(live.values()), {table: len(rows) for table, rows in live.items()}
    await rebuild_database_rollups(database_url)
    assert await rollup_snapshot(database_url) == live


# -- seeding -----------------------------------------------------------------------------


async def test_seeded_store_holds_the_runs_with_their_events(database_url: str) -> None:
    report = await seed(database_url)
    assert report.runs == SEEDED_RUNS
    async with connected(database_url) as conn:
        assert await scalar(conn, "SELECT COUNT(*) FROM runs") == SEEDED_RUNS
        assert await scalar(conn, "SELECT COUNT(*) FROM events") == report.events
        assert report.events > 2 * SEEDED_RUNS
        miscounted = await scalar(
            conn,
            "SELECT COUNT(*) FROM runs LEFT JOIN (SELECT run_id, COUNT(*) AS n FROM events "
            "GROUP BY run_id) AS counted ON counted.run_id = runs.id "
            "WHERE counted.n IS NULL OR counted.n <> runs.event_count",
        )
        assert miscounted == 0
        orphans = "SELECT COUNT(*) FROM events WHERE run_id NOT IN (SELECT id FROM runs)"
        assert await scalar(conn, orphans) == 0
        latest = await conn.scalar(select(func.max(EVENTS.c.event_time)))
        received = await conn.scalar(select(func.max(EVENTS.c.received_at)))
        earliest = await conn.scalar(select(func.min(RUNS.c.started_at)))
    assert latest is not None and received is not None and earliest is not None
    assert latest <= NOW and received <= NOW
    assert earliest >= NOW - timedelta(days=SEEDED_DAYS)


async def test_seeded_rollup_totals_count_every_run_by_outcome(database_url: str) -> None:
    await seed(database_url)
    async with connected(database_url) as conn:
        by_outcome = await rows(
            conn,
            "SELECT outcome, COUNT(*), SUM(event_count) FROM runs "
            "GROUP BY outcome ORDER BY outcome",
        )
        for grain in ("h", "d"):
            totals = []
            for outcome in STORED_OUTCOMES:
                runs, events = runs_column(outcome), events_column(outcome)
                summed = await rows(
                    conn,
                    f"SELECT SUM({runs}), SUM({events}) FROM rollup_total WHERE grain = '{grain}'",
                )
                if summed[0][0]:
                    totals.append((outcome, *summed[0]))
            assert sorted(totals) == by_outcome


async def test_seeded_rollups_equal_a_rebuild(database_url: str) -> None:
    await seed(database_url, workers=1)
    seeded = await rollup_snapshot(database_url)
    await rebuild_database_rollups(database_url)
    assert await rollup_snapshot(database_url) == seeded


async def test_seeding_puts_back_the_indexes_and_the_sqlite_settings(database_url: str) -> None:
    database = open_database(database_url)
    try:
        await upgrade_to_head(database.writer)
    finally:
        await database.dispose()
    migrated = await index_definitions(database_url)
    await seed(database_url)
    assert await index_definitions(database_url) == migrated
    if database_url.startswith("sqlite"):
        async with connected(database_url) as conn:
            assert await scalar(conn, "PRAGMA journal_mode") == "wal"


async def test_seeding_refuses_a_store_that_already_holds_runs(database_url: str) -> None:
    await seed(database_url, runs=200)
    with pytest.raises(StoreNotEmpty):
        await seed(database_url, runs=200, seed=6)
    async with connected(database_url) as conn:
        assert await scalar(conn, "SELECT COUNT(*) FROM runs") == 200


def two_more_databases(store: str, tmp_path: Path, request: pytest.FixtureRequest) -> list[str]:
    if store == "sqlite":
        return [f"sqlite+aiosqlite:///{tmp_path / name}" for name in ("a.db", "b.db")]
    databases: PostgresDatabases = request.getfixturevalue("postgres_databases")
    return [databases.fresh_database(), databases.fresh_database()]


async def test_same_seed_gives_the_same_store_with_or_without_worker_processes(
    database_url: str, store: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    in_thread, in_workers = two_more_databases(store, tmp_path, request)
    await seed(in_thread, runs=8_000)
    await seed(in_workers, runs=8_000, workers=2)
    await seed(database_url, runs=8_000, seed=6)
    stores = {}
    for url in (in_thread, in_workers, database_url):
        async with connected(url) as conn:
            stores[url] = (
                await rows(conn, "SELECT * FROM runs ORDER BY id"),
                await rows(
                    conn,
                    "SELECT run_id, dedup_key, source, kind, status_raw, status, received_at, "
                    "client_time, event_time, payload_version FROM events ORDER BY dedup_key",
                ),
            )
    assert stores[in_thread] == stores[in_workers]
    assert stores[in_thread][0] != stores[database_url][0]


def test_seed_and_rebuild_commands(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}"
    monkeypatch.setenv("INSTALLSTATS_DATABASE_URL", url)
    main(["seed", "--runs", "500", "--days", "2", "--seed", "9", "--workers", "0"])
    assert "seeded 500 runs and " in capsys.readouterr().out
    main(["rebuild-rollups"])
    assert "rebuilt the rollups" in capsys.readouterr().out
    with pytest.raises(SystemExit, match="not empty"):
        main(["seed", "--runs", "10", "--workers", "0"])
    with sqlite3.connect(tmp_path / "cli.db") as connection:
        (latest,) = connection.execute("SELECT MAX(event_time) FROM events").fetchone()
    assert latest <= f"{datetime.now(UTC):%Y-%m-%d %H:%M:%S.%f}"  # the range ends now
