"""Where reports become stored events and merged runs: one batch, one committed write.

The batch is a plan (a generator) that yields each statement it needs and receives
its rows, so the same merge logic drives both stores' drivers without SQLAlchemy on
the hot path (storage/writer/drivers.py): sqlite3 runs a whole plan in the writer
thread, asyncpg awaits each statement.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Generator, Sequence
from typing import Any, NamedTuple

from ingest.merge import RunChange, fold, fold_all
from ingest.report import Report, build_report
from ingest.run_record import RunRecord
from storage.writer.rollup_deltas import rollup_rows
from storage.writer.sql import IngestSql, Query, Rows, Step
from storage.writer.written_runs import WrittenRuns


class Accepted(NamedTuple):
    """A stored report's answer (a tuple: thousands a second cross the writer's pipe)."""

    run_id: str
    duplicate: bool


# Each report's answer, and the runs the batch changed as committed (live updates).
BatchResult = tuple[list[Accepted], list[RunRecord]]
Plan = Generator[Step, Rows | None, BatchResult]


def ingest_plan(
    sql: IngestSql, reports: Sequence[Report], written: WrittenRuns | None = None
) -> Plan:
    """Read what the batch's reports meet in the store, merge their runs, then store
    the new events, the runs and the rollup deltas. The driver makes the writes one
    transaction: a commit makes all of it visible at once, a failure none of it.
    With ``written``, what the writer remembers stands in for the read (PostgreSQL,
    whose write fails unless that was right: storage/writer/written_runs.py)."""
    first_of_key: dict[str, Report] = {}
    for report in reports:
        first_of_key.setdefault(report.dedup_key, report)
    run_ids = list(dict.fromkeys(report.run_id for report in first_of_key.values()))
    if written is None:
        known, stored = yield from sql.read_batch(list(first_of_key), run_ids)
    else:
        known, stored = written.lookup(first_of_key.values(), run_ids)
    # A client retry (same run, same payload) is acknowledged as a duplicate.
    fresh = [report for key, report in first_of_key.items() if key not in known]
    results = [
        Accepted(
            report.run_id,
            duplicate=first_of_key[report.dedup_key] is not report or report.dedup_key in known,
        )
        for report in reports
    ]
    if not fresh:
        return results, []
    changes = yield from _merge_runs(sql, fresh, stored)
    runs = [change.after for change in changes]
    notify = (RUNS_CHANNEL, notify_payloads([run["id"] for run in runs]))
    events = [_event_row(report) for report in fresh]
    # Not ``yield from``: the driver sends each step's rows, which a list cannot take.
    for step in sql.write_steps(events, changes, rollup_rows(changes), notify):  # noqa: UP028
        yield step
    return results, runs


# Live updates across replicas (live/pg_listener.py): every process LISTENs here.
RUNS_CHANNEL = "installstats_runs"
# PostgreSQL refuses NOTIFY payloads of 8000 bytes or more; stay well below.
NOTIFY_PAYLOAD_BYTES = 7500


def notify_payloads(run_ids: Sequence[str], limit: int = NOTIFY_PAYLOAD_BYTES) -> list[str]:
    """``run_ids`` as JSON lists of at most ``limit`` bytes each (an id is at most 160
    characters, so one always fits). On PostgreSQL the batch's write statement sends
    them: a NOTIFY inside a transaction is delivered only when it commits, never if it
    rolls back, so listeners hear exactly of committed changes, after the commit."""
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


def _merge_runs(
    sql: IngestSql, fresh: Sequence[Report], runs: Sequence[RunRecord]
) -> Generator[Step, Rows | None, list[RunChange]]:
    by_run: dict[str, list[Report]] = defaultdict(list)
    for report in fresh:
        by_run[report.run_id].append(report)
    stored = {state["id"]: state for state in runs}
    changes = []
    for run_id, reports in by_run.items():
        before = stored.get(run_id)
        reports.sort(key=lambda report: report.order_key)
        after: RunRecord | None
        if before is None or reports[0].order_key >= before["last_order_key"]:
            after = before
            for report in reports:
                after = fold(after, report)
            assert after is not None
        else:
            # An event that sorts before what the run already holds: re-fold them all.
            events = yield Query(sql.select_run_events, (run_id,))
            after = fold_all([*_stored_reports(sql, run_id, events or ()), *reports])
        changes.append(RunChange(before, after))
    return changes


def _stored_reports(sql: IngestSql, run_id: str, rows: Rows) -> list[Report]:
    assigned = run_id.removeprefix("update:")
    return [
        build_report(source, _json_value(raw), sql.from_stored(received_at), assigned)
        for source, raw, received_at in rows
    ]


def _json_value(stored: Any) -> Any:
    """A stored JSON column's value: text from both drivers, parsed here."""
    return json.loads(stored) if isinstance(stored, str | bytes) else stored
