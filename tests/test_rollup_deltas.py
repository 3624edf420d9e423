"""The rollup rows a batch of run changes writes: which rows move, and by how much.

Rows are written out by hand: key columns, then the measures (rollup_total/app: runs of
SUCCESS, FAILED, ABORTED, UNKNOWN, IN_PROGRESS, then their events; rollup_error and
rollup_dimension: runs). Grains: total and dimension rows keep hours and days, app and
error rows also months.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from ingest.merge import RunChange
from ingest.run_record import NO_DESCRIPTION, RunRecord
from storage.model.rollup_tables import ROLLUP_APP, ROLLUP_DIMENSION, ROLLUP_ERROR, ROLLUP_TOTAL
from storage.writer.rollup_deltas import grain_start, rollup_deltas, rollup_rows

DIMENSIONS = (
    "TYPE", "EXIT_CODE", "ERROR_CATEGORY", "OS_TYPE", "OS_VERSION", "PVE_VERSION", "METHOD",
    "ARCH", "PLATFORM", "CPU_VENDOR", "GPU_VENDOR", "GPU_PASSTHROUGH", "CT_TYPE",
    "REPO_SOURCE", "REPO_SLUG", "CORES", "RAM_GB", "DISK_GB",
)  # fmt: skip


def at(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)  # type: ignore[arg-type, misc, unused-ignore]


def run(started_at: datetime, outcome: str = "IN_PROGRESS", events: int = 1, **columns: Any):
    record: dict[str, Any] = {
        **NO_DESCRIPTION,
        "id": "r1",
        "kind": "INSTALL",
        "execution_id": None,
        "session_id": "r1",
        "status": outcome.lower(),
        "status_normalised": outcome.lower(),
        "outcome": outcome,
        "exit_code": None,
        "exit_code_inferred": False,
        "error": None,
        "error_category": None,
        "failed_command": None,
        "failed_line": None,
        "duration_seconds": None,
        "started_at": started_at,
        "last_seen_at": started_at,
        "finished_at": None,
        "event_count": events,
        "last_order_key": "",
        "app": "jellyfin",
    }
    record.update(columns)
    return RunRecord(**record)  # type: ignore[typeddict-item]


def counts(
    runs: tuple[int, int, int, int, int], events: tuple[int, int, int, int, int]
) -> tuple[int, ...]:
    return (*runs, *events)


def test_grain_start_of_each_grain() -> None:
    moment = at(2026, 5, 4, 12, 34, 56, 789)
    assert grain_start(moment, "h") == at(2026, 5, 4, 12)
    assert grain_start(moment, "d") == at(2026, 5, 4)
    assert grain_start(moment, "m") == at(2026, 5, 1)


def test_a_new_run_adds_one_run_and_its_events_to_every_row_of_its_start() -> None:
    new = run(at(2026, 5, 4, 12, 34), events=2, os_type="debian", exit_code=None, cores=4)
    rows = rollup_rows([RunChange(None, new)])
    in_progress = counts((0, 0, 0, 0, 1), (0, 0, 0, 0, 2))
    assert rows[ROLLUP_TOTAL] == [
        ("d", at(2026, 5, 4), "INSTALL", *in_progress),
        ("h", at(2026, 5, 4, 12), "INSTALL", *in_progress),
    ]
    assert rows[ROLLUP_APP] == [
        ("d", at(2026, 5, 4), "INSTALL", "jellyfin", *in_progress),
        ("h", at(2026, 5, 4, 12), "INSTALL", "jellyfin", *in_progress),
        ("m", at(2026, 5, 1), "INSTALL", "jellyfin", *in_progress),
    ]
    assert ROLLUP_ERROR not in rows  # not a failure
    values = {"OS_TYPE": "debian", "CORES": "4"}
    assert rows[ROLLUP_DIMENSION] == sorted(
        (name, grain, bucket, "INSTALL", values.get(name, ""), 1)
        for name in DIMENSIONS
        for grain, bucket in (("h", at(2026, 5, 4, 12)), ("d", at(2026, 5, 4)))
    )


def test_a_run_without_an_app_counts_under_the_empty_app() -> None:
    rows = rollup_rows([RunChange(None, run(at(2026, 5, 4, 1), app=None))])
    assert {row[3] for row in rows[ROLLUP_APP]} == {""}


def test_an_earlier_report_moves_the_run_to_another_hour_and_day() -> None:
    """Started 00:10 on 4 May with 2 events; a late report from 23:50 on 3 May (a third
    event) moves it: the old hour and day lose it, the new ones gain it, and the May
    month row keeps the run but gains the event."""
    before = run(at(2026, 5, 4, 0, 10), events=2, os_type="debian")
    after = run(at(2026, 5, 3, 23, 50), events=3, os_type="debian")
    rows = rollup_rows([RunChange(before, after)])
    gone = counts((0, 0, 0, 0, -1), (0, 0, 0, 0, -2))
    came = counts((0, 0, 0, 0, 1), (0, 0, 0, 0, 3))
    assert rows[ROLLUP_TOTAL] == [
        ("d", at(2026, 5, 3), "INSTALL", *came),
        ("d", at(2026, 5, 4), "INSTALL", *gone),
        ("h", at(2026, 5, 3, 23), "INSTALL", *came),
        ("h", at(2026, 5, 4, 0), "INSTALL", *gone),
    ]
    assert rows[ROLLUP_APP] == [
        ("d", at(2026, 5, 3), "INSTALL", "jellyfin", *came),
        ("d", at(2026, 5, 4), "INSTALL", "jellyfin", *gone),
        ("h", at(2026, 5, 3, 23), "INSTALL", "jellyfin", *came),
        ("h", at(2026, 5, 4, 0), "INSTALL", "jellyfin", *gone),
        ("m", at(2026, 5, 1), "INSTALL", "jellyfin", *counts((0,) * 5, (0, 0, 0, 0, 1))),
    ]
    dimension_rows = rows[ROLLUP_DIMENSION]
    assert len(dimension_rows) == len(DIMENSIONS) * 4
    for name in DIMENSIONS:
        value = "debian" if name == "OS_TYPE" else ""
        mine = [row for row in dimension_rows if row[0] == name]
        assert mine == [
            (name, "d", at(2026, 5, 3), "INSTALL", value, 1),
            (name, "d", at(2026, 5, 4), "INSTALL", value, -1),
            (name, "h", at(2026, 5, 3, 23), "INSTALL", value, 1),
            (name, "h", at(2026, 5, 4, 0), "INSTALL", value, -1),
        ]


def test_a_failed_run_moved_into_the_previous_month_moves_its_error_rows() -> None:
    before = run(at(2026, 5, 1, 0, 5), "FAILED", exit_code=100, error_category="dependency")
    after = run(
        at(2026, 4, 30, 23, 55), "FAILED", events=2, exit_code=100, error_category="dependency"
    )
    rows = rollup_rows([RunChange(before, after)])
    key = ("INSTALL", "jellyfin", 100, "dependency")
    assert rows[ROLLUP_ERROR] == [
        ("d", at(2026, 4, 30), *key, 1),
        ("d", at(2026, 5, 1), *key, -1),
        ("h", at(2026, 4, 30, 23), *key, 1),
        ("h", at(2026, 5, 1, 0), *key, -1),
        ("m", at(2026, 4, 1), *key, 1),
        ("m", at(2026, 5, 1), *key, -1),
    ]
    assert [row[:4] + row[4:] for row in rows[ROLLUP_APP] if row[0] == "m"] == [
        ("m", at(2026, 4, 1), "INSTALL", "jellyfin", *counts((0, 1, 0, 0, 0), (0, 2, 0, 0, 0))),
        ("m", at(2026, 5, 1), "INSTALL", "jellyfin", *counts((0, -1, 0, 0, 0), (0, -1, 0, 0, 0))),
    ]


def test_a_corrected_exit_code_moves_the_failure_between_error_rows() -> None:
    """failed with 100 (dependency), corrected by a later failed report to 127: the old
    code's rows lose the run and the new code's gain it; the outcome counts keep it."""
    start = at(2026, 5, 4, 12, 34)
    before = run(start, "FAILED", events=2, exit_code=100, error_category="dependency")
    after = run(start, "FAILED", events=3, exit_code=127, error_category="command")
    rows = rollup_rows([RunChange(before, after)])
    old, new = ("INSTALL", "jellyfin", 100, "dependency"), ("INSTALL", "jellyfin", 127, "command")
    buckets = (("d", at(2026, 5, 4)), ("h", at(2026, 5, 4, 12)), ("m", at(2026, 5, 1)))
    assert rows[ROLLUP_ERROR] == sorted(
        [(grain, bucket, *old, -1) for grain, bucket in buckets]
        + [(grain, bucket, *new, 1) for grain, bucket in buckets]
    )
    assert rows[ROLLUP_TOTAL] == [
        ("d", at(2026, 5, 4), "INSTALL", *counts((0,) * 5, (0, 1, 0, 0, 0))),
        ("h", at(2026, 5, 4, 12), "INSTALL", *counts((0,) * 5, (0, 1, 0, 0, 0))),
    ]
    # Only the two dimensions whose value changed move, in hours and days.
    assert rows[ROLLUP_DIMENSION] == sorted(
        [
            (name, grain, bucket, "INSTALL", value, sign)
            for grain, bucket in buckets[:2]
            for name, value, sign in (
                ("ERROR_CATEGORY", "dependency", -1),
                ("ERROR_CATEGORY", "command", 1),
                ("EXIT_CODE", "100", -1),
                ("EXIT_CODE", "127", 1),
            )
        ]
    )


def test_a_failure_without_a_code_counts_under_the_missing_code() -> None:
    start = at(2026, 5, 4, 12)
    before = run(start, "IN_PROGRESS")
    after = run(start, "FAILED", events=2)
    rows = rollup_rows([RunChange(before, after)])
    assert rows[ROLLUP_ERROR] == [
        ("d", at(2026, 5, 4), "INSTALL", "jellyfin", -1, "", 1),
        ("h", at(2026, 5, 4, 12), "INSTALL", "jellyfin", -1, "", 1),
        ("m", at(2026, 5, 1), "INSTALL", "jellyfin", -1, "", 1),
    ]
    assert rows[ROLLUP_TOTAL][1] == (
        "h", at(2026, 5, 4, 12), "INSTALL", *counts((0, 1, 0, 0, -1), (0, 2, 0, 0, -1)),
    )  # fmt: skip


def test_a_failure_corrected_to_success_leaves_the_error_rows() -> None:
    start = at(2026, 5, 4, 12)
    before = run(start, "FAILED", exit_code=1, error_category="general")
    after = run(start, "SUCCESS", events=2)
    rows = rollup_rows([RunChange(before, after)])
    assert [row[-1] for row in rows[ROLLUP_ERROR]] == [-1, -1, -1]
    assert {row[4:6] for row in rows[ROLLUP_ERROR]} == {(1, "general")}


def test_changes_to_one_row_in_one_batch_are_summed() -> None:
    """Run r1 is new and r2 finishes, both in the 12:00 hour: one row per key, with
    r1's +1 in progress and r2's −1 in progress / +1 success added up."""
    start = at(2026, 5, 4, 12, 5)
    first = run(start, events=1)
    second_before = run(at(2026, 5, 4, 12, 40), events=1, id="r2")
    second_after = run(at(2026, 5, 4, 12, 40), "SUCCESS", events=2, id="r2")
    changes = [RunChange(None, first), RunChange(second_before, second_after)]
    rows = rollup_rows(changes)
    assert rows[ROLLUP_TOTAL] == [
        ("d", at(2026, 5, 4), "INSTALL", *counts((1, 0, 0, 0, 0), (2, 0, 0, 0, 0))),
        ("h", at(2026, 5, 4, 12), "INSTALL", *counts((1, 0, 0, 0, 0), (2, 0, 0, 0, 0))),
    ]
    # The same run changed twice in one batch (two successive changes): summed too.
    later = run(start, "SUCCESS", events=3)
    twice = rollup_deltas([RunChange(None, first), RunChange(first, later)])
    assert twice[ROLLUP_TOTAL] == {
        ("h", at(2026, 5, 4, 12), "INSTALL"): list(counts((1, 0, 0, 0, 0), (3, 0, 0, 0, 0))),
        ("d", at(2026, 5, 4), "INSTALL"): list(counts((1, 0, 0, 0, 0), (3, 0, 0, 0, 0))),
    }
    assert all(row == [1] for row in twice[ROLLUP_DIMENSION].values())


def test_error_rows_changed_twice_in_one_batch_are_summed() -> None:
    start = at(2026, 5, 4, 12)
    one = run(start, "FAILED", exit_code=1, error_category="general", id="a")
    other = run(start, "FAILED", exit_code=1, error_category="general", id="b")
    deltas = rollup_deltas([RunChange(None, one), RunChange(None, other)])
    assert deltas[ROLLUP_ERROR][("h", start, "INSTALL", "jellyfin", 1, "general")] == [2]
    assert len(deltas[ROLLUP_ERROR]) == 3


def test_a_progress_ping_moves_only_event_counts_and_a_no_op_moves_nothing() -> None:
    start = at(2026, 5, 4, 12)
    before, after = run(start, events=1, os_type="debian"), run(start, events=2, os_type="debian")
    rows = rollup_rows([RunChange(before, after)])
    assert set(rows) == {ROLLUP_TOTAL, ROLLUP_APP}
    assert rows[ROLLUP_TOTAL][0] == (
        "d",
        at(2026, 5, 4),
        "INSTALL",
        *counts((0,) * 5, (0,) * 4 + (1,)),
    )
    deltas = rollup_deltas([RunChange(before, after)])
    assert deltas[ROLLUP_ERROR] == {} and deltas[ROLLUP_DIMENSION] == {}
    assert rollup_rows([RunChange(after, after)]) == {}


def test_a_changed_kind_moves_every_dimension_row() -> None:
    start = at(2026, 5, 4, 12)
    rows = rollup_rows([RunChange(run(start), run(start, kind="UPDATE"))])
    assert len(rows[ROLLUP_DIMENSION]) == len(DIMENSIONS) * 4
    assert {(row[3], row[-1]) for row in rows[ROLLUP_DIMENSION]} == {("INSTALL", -1), ("UPDATE", 1)}


def test_two_runs_in_one_dimension_row_add_up_and_move_together() -> None:
    """Two new runs in one hour share every dimension row (2 each); both moved to the
    previous hour by late reports take 2 from the old rows and give 2 to the new."""
    old, new = at(2026, 5, 4, 12, 10), at(2026, 5, 4, 11, 50)
    first = run(old, id="a", os_type="debian")
    second = run(old, id="b", os_type="debian")
    added = rollup_deltas([RunChange(None, first), RunChange(None, second)])
    assert added[ROLLUP_DIMENSION][("OS_TYPE", "h", at(2026, 5, 4, 12), "INSTALL", "debian")] == [2]
    assert set(map(tuple, added[ROLLUP_DIMENSION].values())) == {(2,)}
    moved = rollup_deltas(
        [
            RunChange(first, run(new, id="a", os_type="debian")),
            RunChange(second, run(new, id="b", os_type="debian")),
        ]
    )
    rows = moved[ROLLUP_DIMENSION]
    assert rows[("OS_TYPE", "h", at(2026, 5, 4, 12), "INSTALL", "debian")] == [-2]
    assert rows[("OS_TYPE", "h", at(2026, 5, 4, 11), "INSTALL", "debian")] == [2]
    assert rows[("TYPE", "d", at(2026, 5, 4), "INSTALL", "")] == [0]


def test_equal_values_built_apart_are_the_same_dimension_value() -> None:
    """Runs read back from the store hold equal, not identical, strings."""
    start = at(2026, 5, 4, 12)
    before = run(start, events=1, os_type="debian")
    after = run(start, events=2, os_type="".join(["deb", "ian"]))
    assert before["os_type"] is not after["os_type"]
    assert rollup_deltas([RunChange(before, after)])[ROLLUP_DIMENSION] == {}


def test_every_measure_is_an_integer() -> None:
    """The measures are bound to integer columns: a float (from a / somewhere) would
    store 1.0 on SQLite and fail on PostgreSQL."""
    start = at(2026, 5, 4, 12)
    before = run(start, "FAILED", exit_code=1, error_category="general")
    after = run(at(2026, 5, 3, 12), "FAILED", events=3, exit_code=2, error_category="x")
    for rows in rollup_rows([RunChange(None, before), RunChange(before, after)]).values():
        for row in rows:
            assert all(
                type(value) is int for value in row if not isinstance(value, (str, datetime))
            ), row


def test_error_rows_shared_by_two_runs_add_and_remove_as_integers() -> None:
    start, later = at(2026, 5, 4, 12), at(2026, 5, 4, 11)
    one = run(start, "FAILED", exit_code=1, error_category="general", id="a")
    other = run(start, "FAILED", exit_code=1, error_category="general", id="b")
    key = ("h", start, "INSTALL", "jellyfin", 1, "general")
    added = rollup_deltas([RunChange(None, one), RunChange(None, other)])[ROLLUP_ERROR]
    assert added[key] == [2] and type(added[key][0]) is int
    moved = rollup_deltas(
        [
            RunChange(one, run(later, "FAILED", exit_code=1, error_category="general", id="a")),
            RunChange(other, run(later, "FAILED", exit_code=1, error_category="general", id="b")),
        ]
    )[ROLLUP_ERROR]
    assert moved[key] == [-2] and type(moved[key][0]) is int
    assert moved[("h", later, "INSTALL", "jellyfin", 1, "general")] == [2]


def test_only_failed_runs_have_error_rows() -> None:
    start = at(2026, 5, 4, 12)
    for outcome in ("ABORTED", "SUCCESS", "UNKNOWN", "IN_PROGRESS"):
        deltas = rollup_deltas([RunChange(None, run(start, outcome, exit_code=130))])
        assert deltas[ROLLUP_ERROR] == {}, outcome
    aborted = run(start, "ABORTED", exit_code=130)
    failed = run(start, "FAILED", exit_code=130, events=2)
    assert len(rollup_deltas([RunChange(aborted, failed)])[ROLLUP_ERROR]) == 3
    assert [row[-1] for row in rollup_rows([RunChange(failed, aborted)])[ROLLUP_ERROR]] == [-1] * 3


def test_a_failed_run_that_only_gains_an_event_moves_no_error_or_dimension_row() -> None:
    """Keys built apart (as a run read back from the store has them) still compare
    equal: kind, start and error key are compared by value."""
    start = at(2026, 5, 4, 12)
    before = run(start, "FAILED", exit_code=1, error_category="general")
    after = run(
        at(2026, 5, 4, 12, 0, 0, 0),
        "FAILED",
        events=2,
        exit_code=1,
        error_category="".join(["gen", "eral"]),
        kind="".join(["INST", "ALL"]),
    )
    assert after["kind"] is not before["kind"] and after["started_at"] is not start
    deltas = rollup_deltas([RunChange(before, after)])
    assert deltas[ROLLUP_ERROR] == {} and deltas[ROLLUP_DIMENSION] == {}


def test_a_kind_changed_either_way_moves_every_dimension_row() -> None:
    start = at(2026, 5, 4, 12)
    rows = rollup_rows([RunChange(run(start, kind="UPDATE"), run(start, kind="INSTALL"))])
    assert len(rows[ROLLUP_DIMENSION]) == len(DIMENSIONS) * 4
