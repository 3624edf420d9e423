"""The live feed's Python filter selects exactly the runs the SQL filter selects.

A few dozen varied runs are stored through the ingest writer; for many filters the ids
``run_conditions`` selects in SQL are compared with the ids ``live.matching.matches``
accepts, both on the stored rows and on the states the writer published at commit
(what the SQLite live path pushes).
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import pytest
from sqlalchemy import select

from ingest.report import build_report
from ingest.run_record import RunRecord
from live.matching import matches
from storage.analytics.filters import EFFECTIVE_OUTCOMES, RunFilter, run_conditions
from storage.engine import Database
from storage.model.dimensions import DIMENSIONS, Dimension
from storage.model.tables import RUNS
from storage.writer.group_commit import IngestWriter

NOW = datetime.now(UTC).replace(microsecond=0)
CUTOFF = NOW - timedelta(hours=3)
SEED = 20260

APPS = ["docker", "homeassistant", "jellyfin", "pihole"]
CHOICES: dict[str, list[Any]] = {
    "type": ["lxc", "vm", "pve", "addon", None],
    "os_type": ["debian", "ubuntu", "alpine", None],
    "os_version": ["12", "13", "24.04", "3.22", None],
    "pve_version": ["8.4.1", "9.0.3", "incus-6.0", None],
    "method": ["default", "advanced", "mydefaults-app", None],
    "arch": ["amd64", "arm64", None],
    "platform": ["pve", "incus", None],
    "repo_source": ["ProxmoxVE", "ProxmoxVED", None],
    "repo_slug": ["community-scripts/ProxmoxVE", "fork/ProxmoxVE", None],
    "cpu_vendor": ["intel", "amd", None],
    "gpu_vendor": ["nvidia", "intel", None],
    "gpu_passthrough": ["yes", "no", None],
    "ct_type": [0, 1, 2, None],
    "core_count": [1, 2, 4, None],
    "ram_size": [512, 1536, 2048, 4096, None],
    "disk_size": [4, 8, 32, None],
}
TERMINALS = [
    ("success", 0),
    ("done", None),
    ("failed", 1),
    ("failed", 100),
    ("failed", 130),
    ("failed", None),
    ("aborted", None),
    ("unknown", None),
]


def _run_reports(rng: random.Random) -> list[tuple[str, dict[str, Any]]]:
    """One run's reports as (source, body): progress, maybe a terminal, varied values."""
    run_id = str(uuid.uuid4())
    source = rng.choice(["telemetry", "telemetry", "telemetry", "update"])
    started = NOW - timedelta(minutes=rng.randrange(0, 10 * 24 * 60))
    body: dict[str, Any] = {"random_id": run_id, "execution_id": run_id}
    body["nsapp"] = rng.choice(APPS)
    for name, values in CHOICES.items():
        value = rng.choice(values)
        if value is not None:
            body[name] = value
    reports = [(source, body | {"status": "installing", "timestamp": started.isoformat()})]
    if rng.random() < 0.7:
        status, code = rng.choice(TERMINALS)
        finished = started + timedelta(minutes=rng.randrange(1, 30))
        terminal = body | {"status": status, "timestamp": finished.isoformat()}
        if code is not None:
            terminal["exit_code"] = code
        if status == "failed" and code is None:
            terminal["error"] = "E: command failed with exit code 127"
        reports.append((source, terminal))
    return reports


@pytest.fixture
async def published(database: Database) -> dict[str, RunRecord]:
    """Stores the runs; returns each run's last state as the writer published it."""
    rng = random.Random(SEED)
    states: dict[str, RunRecord] = {}

    def remember(runs: Sequence[RunRecord]) -> None:
        states.update((run["id"], run) for run in runs)

    writer = IngestWriter(database, queue_size=1000, batch_size=16)
    writer.add_commit_listener(remember)
    writer.start()
    try:
        for _ in range(60):
            for source, body in _run_reports(rng):
                await writer.submit(build_report(source, body, NOW))
        # Silent for exactly the unfinished age: still IN_PROGRESS (the boundary).
        boundary = {"random_id": str(uuid.uuid4()), "nsapp": "docker", "status": "installing"}
        await writer.submit(
            build_report("telemetry", boundary | {"timestamp": CUTOFF.isoformat()}, NOW)
        )
    finally:
        await writer.close()
    return states


def _filters(rows: list[RunRecord]) -> list[RunFilter]:
    """Single lists of each kind (values present and absent), time windows, outcomes,
    and seeded combinations of them."""
    rng = random.Random(SEED + 1)
    singles: list[RunFilter] = [RunFilter()]
    for dimension in DIMENSIONS:
        keys = sorted({key for row in rows if (key := DIMENSIONS[dimension].key(row))})
        assert keys, f"the dataset has no value for {dimension}"
        singles.append(RunFilter(values={dimension: frozenset(keys[:1])}))
        singles.append(RunFilter(values={dimension: frozenset([*keys[1:3], "absent"])}))
    for outcome in EFFECTIVE_OUTCOMES:
        singles.append(RunFilter(outcomes=frozenset({outcome})))
    singles.append(RunFilter(outcomes=frozenset({"UNFINISHED", "FAILED"})))
    singles.append(RunFilter(os_versions=frozenset({"12"})))
    singles.append(RunFilter(os_versions=frozenset({"24.04", "3.22", "absent"})))
    for days in (1, 3, 7):
        singles.append(RunFilter(since=NOW - timedelta(days=days)))
        singles.append(RunFilter(until=NOW - timedelta(days=days)))
    middle = sorted(row["started_at"] for row in rows)[len(rows) // 2]
    singles.append(RunFilter(since=middle, until=middle + timedelta(days=2)))  # boundary
    singles.append(RunFilter(until=middle))
    combined = [_combine(rng.sample(singles[1:], k)) for k in (2, 3) for _ in range(40)]
    return singles + combined


def _combine(filters: list[RunFilter]) -> RunFilter:
    values: dict[Dimension, frozenset[str]] = {}
    outcomes: frozenset[str] = frozenset()
    os_versions: frozenset[str] = frozenset()
    since = until = None
    for run_filter in filters:
        values |= run_filter.values
        outcomes = outcomes or run_filter.outcomes
        os_versions = os_versions or run_filter.os_versions
        since = since or run_filter.since
        until = until or run_filter.until
    return RunFilter(
        since=since, until=until, values=values, outcomes=outcomes, os_versions=os_versions
    )


async def _sql_ids(database: Database, run_filter: RunFilter) -> set[str]:
    query = select(RUNS.c.id).where(*run_conditions(run_filter, CUTOFF))
    async with database.reader.connect() as conn:
        return set((await conn.execute(query)).scalars())


async def test_python_filter_selects_the_runs_the_sql_filter_selects(
    database: Database, published: dict[str, RunRecord]
) -> None:
    async with database.reader.connect() as conn:
        rows = cast(
            list[RunRecord], [dict(row._mapping) for row in await conn.execute(select(RUNS))]
        )
    assert len(rows) == len(published) == 61
    assert {row["outcome"] for row in rows} >= {"SUCCESS", "FAILED", "ABORTED", "IN_PROGRESS"}
    assert any(r["outcome"] == "IN_PROGRESS" and r["last_seen_at"] < CUTOFF for r in rows)
    assert any(r["outcome"] == "IN_PROGRESS" and r["last_seen_at"] == CUTOFF for r in rows)

    selected_something = 0
    for run_filter in _filters(rows):
        expected = await _sql_ids(database, run_filter)
        on_rows = {row["id"] for row in rows if matches(run_filter, row, CUTOFF)}
        on_published = {rid for rid, st in published.items() if matches(run_filter, st, CUTOFF)}
        assert on_rows == expected, run_filter
        assert on_published == expected, run_filter
        selected_something += 0 < len(expected) < len(rows)
    assert selected_something >= 60  # most filters split the runs, none trivially
