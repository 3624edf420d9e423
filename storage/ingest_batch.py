"""Where reports become stored events and merged runs: one batch, one transaction."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncConnection

from ingest.merge import RunChange, RunState, fold, fold_all
from ingest.report import Report, build_report
from storage.rollups import apply_rollup_changes
from storage.statements import insert_new, upsert_replacing
from storage.tables import EVENTS, RUN_COLUMNS, RUNS


@dataclass(frozen=True, slots=True)
class Accepted:
    run_id: str
    duplicate: bool


async def apply_reports(
    conn: AsyncConnection, reports: Sequence[Report]
) -> tuple[list[Accepted], list[RunChange]]:
    """Store the batch's new events, merge their runs and move the rollups, in ``conn``'s
    transaction: a commit makes all of it visible at once, a rollback none of it."""
    fresh, results = await _insert_new_events(conn, reports)
    if not fresh:
        return results, []
    changes = await _merge_runs(conn, fresh)
    await _upsert_runs(conn, [change.after for change in changes])
    await apply_rollup_changes(conn, changes)
    if conn.dialect.name == "postgresql":
        await _notify_changed_runs(conn, [change.after["id"] for change in changes])
    return results, changes


# Live updates across replicas (live/pg_listener.py): every process LISTENs here.
RUNS_CHANNEL = "installstats_runs"
# PostgreSQL refuses NOTIFY payloads of 8000 bytes or more; stay well below.
NOTIFY_PAYLOAD_BYTES = 7500


async def _notify_changed_runs(conn: AsyncConnection, run_ids: Sequence[str]) -> None:
    """Tell every replica which runs this transaction changed.

    A NOTIFY sent inside a transaction is delivered only when it commits, and never if
    it rolls back: listeners hear exactly of committed changes, after the commit. Ids
    go as JSON lists, chunked so that each payload stays under NOTIFY_PAYLOAD_BYTES.
    """
    await conn.execute(
        text(
            "SELECT pg_notify(:channel, payload) FROM unnest(CAST(:payloads AS text[])) AS payload"
        ),
        {"channel": RUNS_CHANNEL, "payloads": notify_payloads(run_ids)},
    )


def notify_payloads(run_ids: Sequence[str], limit: int = NOTIFY_PAYLOAD_BYTES) -> list[str]:
    """``run_ids`` as JSON lists of at most ``limit`` bytes each (an id is at most 160
    characters, so one always fits)."""
    payloads: list[str] = []
    chunk: list[str] = []
    size = 2  # the brackets
    for run_id in run_ids:
        item = len(json.dumps(run_id).encode()) + (1 if chunk else 0)  # the comma
        if chunk and size + item > limit:
            payloads.append(json.dumps(chunk, separators=(",", ":")))
            chunk, size = [], 2
            item -= 1
        chunk.append(run_id)
        size += item
    if chunk:
        payloads.append(json.dumps(chunk, separators=(",", ":")))
    return payloads


async def _insert_new_events(
    conn: AsyncConnection, reports: Sequence[Report]
) -> tuple[list[Report], list[Accepted]]:
    """Store the events not stored yet; a client retry (same run, same payload) is
    acknowledged as a duplicate. ON CONFLICT makes this hold when two replicas receive
    the same retry at the same moment."""
    first_of_key: dict[str, Report] = {}
    for report in reports:
        first_of_key.setdefault(report.dedup_key, report)
    statement = insert_new(conn.dialect.name, EVENTS, "dedup_key", "dedup_key")
    rows = [_event_row(report) for report in first_of_key.values()]
    inserted = set((await conn.execute(statement, rows)).scalars().all())
    fresh = [report for key, report in first_of_key.items() if key in inserted]
    results = [
        Accepted(
            report.run_id,
            duplicate=first_of_key[report.dedup_key] is not report
            or report.dedup_key not in inserted,
        )
        for report in reports
    ]
    return fresh, results


def _event_row(report: Report) -> dict[str, Any]:
    return {
        "run_id": report.run_id,
        "dedup_key": report.dedup_key,
        "source": report.source,
        "kind": report.kind,
        "status_raw": report.status_raw,
        "status": report.status,
        "received_at": report.received_at,
        "client_time": report.client_time,
        "event_time": report.event_time,
        "payload_version": report.values.get("payload_version"),
        "raw": report.raw,
    }


async def _merge_runs(conn: AsyncConnection, fresh: Sequence[Report]) -> list[RunChange]:
    by_run: dict[str, list[Report]] = defaultdict(list)
    for report in fresh:
        by_run[report.run_id].append(report)
    if conn.dialect.name == "postgresql":
        await _lock_runs(conn, list(by_run))
    stored = await _load_runs(conn, list(by_run))
    changes = []
    for run_id, reports in by_run.items():
        before = stored.get(run_id)
        reports.sort(key=lambda report: report.order_key)
        if before is None or reports[0].order_key >= before["last_order_key"]:
            after = before
            for report in reports:
                after = fold(after, report)
            assert after is not None
        else:
            # An event that sorts before what the run already holds: re-fold them all.
            after = fold_all(await _load_run_reports(conn, run_id))
        changes.append(RunChange(before, after))
    return changes


async def _lock_runs(conn: AsyncConnection, run_ids: list[str]) -> None:
    """Serialise merges of the same run across replicas sharing one PostgreSQL.

    Two replicas may hold reports of one run at once; without this, both would fold
    onto the same stored state and the second upsert would drop the first's report.
    SQLite needs nothing: its single writer already serialises transactions. Locks are
    taken in one global order (by key), so two batches cannot deadlock.
    """
    await conn.execute(
        text(
            "SELECT pg_advisory_xact_lock(k) FROM (SELECT DISTINCT hashtextextended(id, 0) AS k "
            "FROM unnest(CAST(:ids AS text[])) AS id ORDER BY k) AS keys"
        ),
        {"ids": run_ids},
    )


async def _load_runs(conn: AsyncConnection, run_ids: list[str]) -> dict[str, RunState]:
    rows = await conn.execute(select(RUNS).where(RUNS.c.id.in_(run_ids)))
    return {row.id: dict(row._mapping) for row in rows}


async def _load_run_reports(conn: AsyncConnection, run_id: str) -> list[Report]:
    rows = await conn.execute(
        select(EVENTS.c.source, EVENTS.c.raw, EVENTS.c.received_at).where(EVENTS.c.run_id == run_id)
    )
    assigned = run_id.removeprefix("update:")
    return [build_report(row.source, row.raw, row.received_at, assigned) for row in rows]


async def _upsert_runs(conn: AsyncConnection, runs: Sequence[RunState]) -> None:
    statement = upsert_replacing(conn.dialect.name, RUNS, "id")
    await conn.execute(statement, [{name: run[name] for name in RUN_COLUMNS} for run in runs])
