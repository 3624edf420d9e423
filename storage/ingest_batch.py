"""Where reports become stored events and merged runs: one batch, one transaction."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from ingest.merge import RunState, fold, fold_all
from ingest.report import Report, build_report
from storage.tables import EVENTS, RUN_COLUMNS, RUNS


@dataclass(frozen=True, slots=True)
class Accepted:
    run_id: str
    duplicate: bool


@dataclass(frozen=True, slots=True)
class RunChange:
    """A run before and after a batch (before is None for a new run)."""

    before: RunState | None
    after: RunState


# Called inside the batch's transaction with every run the batch changed, so derived
# tables (rollups) move in the same commit as the runs they summarise.
ChangeHook = Callable[[AsyncConnection, Sequence[RunChange]], Awaitable[None]]


async def apply_reports(
    conn: AsyncConnection, reports: Sequence[Report], on_change: ChangeHook | None = None
) -> tuple[list[Accepted], list[RunChange]]:
    fresh, results = await _drop_duplicates(conn, reports)
    if not fresh:
        return results, []
    await conn.execute(insert(EVENTS), [_event_row(report) for report in fresh])
    changes = await _merge_runs(conn, fresh)
    await _upsert_runs(conn, [change.after for change in changes])
    if on_change is not None:
        await on_change(conn, changes)
    return results, changes


async def _drop_duplicates(
    conn: AsyncConnection, reports: Sequence[Report]
) -> tuple[list[Report], list[Accepted]]:
    """Client retries (same run, same payload) are acknowledged and not stored again."""
    keys = {report.dedup_key for report in reports}
    stored = set(
        (await conn.execute(select(EVENTS.c.dedup_key).where(EVENTS.c.dedup_key.in_(keys))))
        .scalars()
        .all()
    )
    fresh: list[Report] = []
    results: list[Accepted] = []
    for report in reports:
        duplicate = report.dedup_key in stored
        stored.add(report.dedup_key)
        if not duplicate:
            fresh.append(report)
        results.append(Accepted(report.run_id, duplicate))
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
    dialect = conn.dialect.name
    insert_for = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = insert_for(RUNS)
    statement = statement.on_conflict_do_update(
        index_elements=[RUNS.c.id],
        set_={name: statement.excluded[name] for name in RUN_COLUMNS if name != "id"},
    )
    await conn.execute(statement, [{name: run[name] for name in RUN_COLUMNS} for run in runs])
