"""Merging the reports of one run into its merged view (docs/semantics.md, "Merging").

A run's view is a fold of its events in a total order (event time, status priority,
content hash), so the same set of events always gives the same run whatever order
they arrived in. The writer folds a new event onto the stored run when it sorts last
(the usual case) and re-folds all of the run's events otherwise.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from ingest.report import Report
from ingest.run_record import DESCRIPTIVE_COLUMNS, NO_DESCRIPTION, RESULT_COLUMNS, RunRecord
from ingest.statuses import Outcome, is_terminal

__all__ = ["DESCRIPTIVE_COLUMNS", "RunChange", "fold", "fold_all", "new_run"]


@dataclass(frozen=True, slots=True)
class RunChange:
    """A run before and after a batch (before is None for a new run)."""

    before: RunRecord | None
    after: RunRecord


def new_run(report: Report) -> RunRecord:
    return {
        "id": report.run_id,
        "kind": report.kind,
        "execution_id": None,
        "session_id": None,
        "status": report.status_raw or report.status,
        "status_normalised": report.status,
        "outcome": Outcome.IN_PROGRESS.value,
        "exit_code": None,
        "exit_code_inferred": False,
        "error": None,
        "error_category": None,
        "failed_command": None,
        "failed_line": None,
        "duration_seconds": None,
        "started_at": report.event_time,
        "last_seen_at": report.event_time,
        "finished_at": None,
        "event_count": 0,
        "last_order_key": "",
        **NO_DESCRIPTION,
    }


def fold(state: RunRecord | None, report: Report) -> RunRecord:
    """The run after ``report``, which must not sort before the run's last event."""
    run = new_run(report) if state is None else state.copy()
    run["event_count"] += 1
    run["started_at"] = min(run["started_at"], report.event_time)
    run["last_seen_at"] = max(run["last_seen_at"], report.event_time)
    if report.execution_id:
        run["execution_id"] = report.execution_id
    if report.random_id:
        run["session_id"] = report.random_id
    values = report.values
    for column in DESCRIPTIVE_COLUMNS:
        value = values.get(column)
        if value is not None:
            run[column] = value
    if report.terminal:
        _apply_terminal(run, report)
    elif not is_terminal(run["status_normalised"]):
        run["status"] = report.status_raw or report.status
        run["status_normalised"] = report.status
    run["last_order_key"] = max(run["last_order_key"], report.order_key)
    return run


def _apply_terminal(run: RunRecord, report: Report) -> None:
    """A real terminal beats unknown; otherwise the later terminal corrects the earlier."""
    if (
        report.status == "unknown"
        and run["status_normalised"] not in ("unknown",)
        and is_terminal(run["status_normalised"])
    ):
        return
    run["status"] = report.status_raw or report.status
    run["status_normalised"] = report.status
    run["outcome"] = report.outcome.value
    run["finished_at"] = report.event_time
    values = report.values
    # The result describes one terminal report as a whole: a corrected success must
    # keep neither the error text nor the duration of the failure it replaces.
    for column in RESULT_COLUMNS:
        run[column] = values.get(column, False if column == "exit_code_inferred" else None)


def fold_all(reports: Iterable[Report]) -> RunRecord:
    """The run made of exactly these reports, in their total order."""
    state: RunRecord | None = None
    for report in sorted(reports, key=lambda r: r.order_key):
        state = fold(state, report)
    if state is None:
        raise ValueError("a run needs at least one report")
    return state
