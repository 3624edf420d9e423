"""The merge rules one report at a time: what each field of the run becomes.

Every expected value is written out from the rules in docs/semantics.md ("Merging"):
the earliest event starts the run, the latest is its last sighting, a non-empty value
replaces an earlier one and an empty one never does, progress never replaces a terminal
status, a real terminal beats unknown, and a later terminal corrects an earlier one
(its result columns as a whole).
"""

from __future__ import annotations

from dataclasses import FrozenInstanceError
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from ingest.merge import RunChange, fold, fold_all, new_run
from ingest.report import Report, build_report
from ingest.run_record import NO_DESCRIPTION

T0 = datetime(2026, 5, 4, 12, 0, tzinfo=UTC)
RECEIVED = datetime(2026, 5, 5, tzinfo=UTC)


def report(status: str, minute: int, **fields: Any) -> Report:
    body: dict[str, Any] = {"random_id": "run-1", "nsapp": "jellyfin", "status": status}
    body["timestamp"] = (T0 + timedelta(minutes=minute)).isoformat()
    body.update(fields)
    return build_report("telemetry", body, RECEIVED)


def test_a_run_needs_at_least_one_report() -> None:
    with pytest.raises(ValueError, match="at least one report"):
        fold_all([])


def test_a_new_run_from_its_first_progress_report() -> None:
    first = report("installing", 0, os_type="debian", cores=2)
    run = fold(None, first)
    expected = {
        **NO_DESCRIPTION,
        "id": "run-1",
        "kind": "INSTALL",
        "execution_id": None,
        "session_id": "run-1",
        "status": "installing",
        "status_normalised": "installing",
        "outcome": "IN_PROGRESS",
        "exit_code": None,
        "exit_code_inferred": False,
        "error": None,
        "error_category": None,
        "failed_command": None,
        "failed_line": None,
        "duration_seconds": None,
        "started_at": T0,
        "last_seen_at": T0,
        "finished_at": None,
        "event_count": 1,
        "last_order_key": first.order_key,
        "app": "jellyfin",
        "os_type": "debian",
    }
    assert run == expected
    assert fold_all([first]) == expected
    # new_run itself counts no event yet: fold adds each one.
    assert new_run(first)["event_count"] == 0
    assert new_run(first)["last_order_key"] == ""


def test_new_run_and_progress_keep_the_raw_spelling_of_the_status() -> None:
    shouted = report("INSTALLING", 0)
    assert (shouted.status_raw, shouted.status) == ("INSTALLING", "installing")
    assert new_run(shouted)["status"] == "INSTALLING"
    assert new_run(shouted)["status_normalised"] == "installing"
    run = fold_all([shouted, report("Configuring", 1)])
    assert (run["status"], run["status_normalised"]) == ("Configuring", "configuring")


def test_a_run_change_is_an_immutable_pair() -> None:
    after = fold(None, report("installing", 0))
    change = RunChange(None, after)
    assert (change.before, change.after) == (None, after)
    assert change == RunChange(before=None, after=after)
    with pytest.raises((FrozenInstanceError, TypeError)):
        change.before = after  # type: ignore[misc]
    assert not hasattr(change, "__dict__")


def test_fold_does_not_change_the_run_it_is_given() -> None:
    run = fold(None, report("installing", 0))
    snapshot = dict(run)
    fold(run, report("success", 5))
    assert run == snapshot


def test_start_is_the_earliest_event_and_last_seen_the_latest() -> None:
    reports = [report("configuring", 7), report("installing", 2), report("success", 9)]
    run = fold_all(reports)
    assert run["started_at"] == T0 + timedelta(minutes=2)
    assert run["last_seen_at"] == T0 + timedelta(minutes=9)
    assert run["finished_at"] == T0 + timedelta(minutes=9)
    assert run["event_count"] == 3
    assert run["last_order_key"] == max(r.order_key for r in reports)
    assert run["last_order_key"] == reports[2].order_key


def test_fold_keeps_the_earlier_start_and_later_sighting_of_the_stored_run() -> None:
    """fold's min/max guard the stored run against a report whose event time lies
    before its start (equal order keys can still differ in their clocks' past)."""
    stored = fold(None, report("installing", 10))
    stored["last_seen_at"] = T0 + timedelta(minutes=30)
    run = fold(stored, report("configuring", 20))
    assert run["started_at"] == T0 + timedelta(minutes=10)
    assert run["last_seen_at"] == T0 + timedelta(minutes=30)
    earlier = fold(stored, report("configuring", 5))
    assert earlier["started_at"] == T0 + timedelta(minutes=5)


def test_progress_updates_the_status_until_a_terminal_arrives() -> None:
    run = fold_all([report("installing", 0), report("configuring", 1)])
    assert (run["status"], run["status_normalised"], run["outcome"]) == (
        "configuring", "configuring", "IN_PROGRESS",
    )  # fmt: skip
    run = fold_all([report("installing", 0), report("failed", 1), report("configuring", 2)])
    assert (run["status"], run["status_normalised"], run["outcome"]) == (
        "failed", "failed", "FAILED",
    )  # fmt: skip
    assert run["finished_at"] == T0 + timedelta(minutes=1)
    assert run["last_seen_at"] == T0 + timedelta(minutes=2)


def test_the_raw_spelling_of_the_status_is_kept() -> None:
    run = fold_all([report("installing", 0), report("done", 1)])
    assert (run["status"], run["status_normalised"], run["outcome"]) == (
        "done", "success", "SUCCESS",
    )  # fmt: skip


def test_empty_values_never_replace_known_ones_and_later_values_do() -> None:
    run = fold_all(
        [
            report("installing", 0, os_type="debian", os_version="12", core_count="4"),
            report("configuring", 1, os_type="", os_version="   ", core_count=None),
            report("success", 2, os_version="13", ram_size="2G"),
        ]
    )
    assert (run["os_type"], run["os_version"], run["cores"], run["ram_mb"]) == (
        "debian", "13", 4, 2048,
    )  # fmt: skip


def test_identifiers_are_kept_once_known() -> None:
    with_execution = report("installing", 0, execution_id="exec-9")
    without = report("configuring", 1)
    run = fold_all([with_execution, without])
    assert run["id"] == "exec-9" == with_execution.run_id
    assert (run["execution_id"], run["session_id"]) == ("exec-9", "run-1")


@pytest.mark.parametrize(
    ("first", "second", "winner"),
    [
        ("success", "failed", "failed"),
        ("failed", "aborted", "aborted"),
        ("success", "aborted", "aborted"),
        ("unknown", "success", "success"),
        ("configuring", "success", "success"),
        ("installing", "validation", "validation"),
    ],
)
def test_at_equal_event_time_the_higher_status_priority_wins(
    first: str, second: str, winner: str
) -> None:
    for order in ((first, second), (second, first)):
        run = fold_all([report(status, 3) for status in order])
        assert run["status_normalised"] == winner


def test_a_real_terminal_beats_unknown_in_either_order() -> None:
    for minutes in ((1, 2), (2, 1)):
        run = fold_all([report("failed", minutes[0], exit_code=1), report("unknown", minutes[1])])
        assert (run["status_normalised"], run["outcome"], run["exit_code"]) == (
            "failed", "FAILED", 1,
        )  # fmt: skip
        assert run["finished_at"] == T0 + timedelta(minutes=minutes[0])


def test_a_later_unknown_replaces_an_earlier_unknown() -> None:
    run = fold_all([report("unknown", 1), report("unknown", 4, install_duration=30)])
    assert run["outcome"] == "UNKNOWN"
    assert run["finished_at"] == T0 + timedelta(minutes=4)
    assert run["duration_seconds"] == 30


def test_a_later_terminal_corrects_the_result_as_a_whole() -> None:
    failed = report(
        "failed", 1, exit_code=100, error="E: broken", failed_command="apt-get", install_duration=9
    )
    run = fold_all([failed, report("success", 2)])
    assert (run["outcome"], run["finished_at"]) == ("SUCCESS", T0 + timedelta(minutes=2))
    for column in ("exit_code", "error", "error_category", "failed_command", "duration_seconds"):
        assert run[column] is None, column
    assert run["exit_code_inferred"] is False


def test_a_corrected_failure_takes_the_new_code_and_its_inference() -> None:
    run = fold_all(
        [
            report("failed", 1, exit_code=100),
            report("failed", 2, error="Command not found"),
        ]
    )
    assert run["exit_code"] == 127 and run["exit_code_inferred"] is True
    assert run["error"] == "Command not found"
    run = fold_all(
        [report("failed", 1, error="Command not found"), report("failed", 2, exit_code=1)]
    )
    assert (run["exit_code"], run["exit_code_inferred"], run["error"]) == (1, False, None)


def test_a_failure_with_an_abort_code_is_aborted() -> None:
    run = fold_all([report("installing", 0), report("failed", 1, exit_code=130)])
    assert (run["status_normalised"], run["outcome"]) == ("failed", "ABORTED")
