"""Client statuses: their spellings, the outcome each gives, and the tie-break order.

The lists are written out here by hand from docs/semantics.md, so that a change to any
of them (a dropped alias, a swapped priority, an outcome moved) fails a test.
"""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from ingest.statuses import (
    EFFECTIVE_OUTCOMES,
    KNOWN_RAW_STATUSES,
    OPEN_OUTCOMES,
    OUTCOME_FIELDS,
    STATUS_PRIORITY,
    STORED_OUTCOMES,
    Outcome,
    is_terminal,
    normalise_status,
    outcome_counts,
    outcome_for,
)

PROGRESS = ("installing", "validation", "configuring", "updating")
TERMINAL = ("success", "failed", "aborted", "unknown")


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        *((status, status) for status in (*PROGRESS, *TERMINAL)),
        ("done", "success"),
        ("sucess", "success"),
        ("successful", "success"),
        ("  Installing\t", "installing"),
        ("DONE", "success"),
        (" Sucess ", "success"),
        ("FAILED", "failed"),
        ("", None),
        ("   ", None),
        ("finished", None),
        ("succes", None),
        ("in progress", None),
    ],
)
def test_normalise_status(raw: str, expected: str | None) -> None:
    assert normalise_status(raw) == expected


def test_known_raw_statuses_are_the_statuses_and_their_aliases() -> None:
    assert frozenset({*PROGRESS, *TERMINAL, "done", "sucess", "successful"}) == KNOWN_RAW_STATUSES


@pytest.mark.parametrize("status", [*PROGRESS, *TERMINAL, "done", "bogus", ""])
def test_is_terminal(status: str) -> None:
    assert is_terminal(status) == (status in TERMINAL)


@pytest.mark.parametrize(
    ("status", "exit_code", "outcome"),
    [
        ("success", None, "SUCCESS"),
        ("success", 1, "SUCCESS"),
        ("aborted", None, "ABORTED"),
        ("aborted", 1, "ABORTED"),
        ("failed", None, "FAILED"),
        ("failed", 0, "FAILED"),
        ("failed", 1, "FAILED"),
        ("failed", 100, "FAILED"),
        ("failed", 128, "FAILED"),
        ("failed", 129, "ABORTED"),
        ("failed", 130, "ABORTED"),
        ("failed", 131, "FAILED"),
        ("failed", 143, "ABORTED"),
        ("unknown", None, "UNKNOWN"),
        ("unknown", 130, "UNKNOWN"),
        *((status, None, "IN_PROGRESS") for status in PROGRESS),
        ("installing", 130, "IN_PROGRESS"),
    ],
)
def test_outcome_for(status: str, exit_code: int | None, outcome: str) -> None:
    found = outcome_for(status, exit_code)
    assert isinstance(found, Outcome)
    assert found.value == outcome


def test_status_priority_orders_progress_before_terminals_and_failures_last() -> None:
    assert STATUS_PRIORITY == {
        "installing": 0,
        "updating": 0,
        "validation": 1,
        "configuring": 2,
        "unknown": 3,
        "success": 4,
        "failed": 5,
        "aborted": 6,
    }


def test_outcome_lists() -> None:
    assert EFFECTIVE_OUTCOMES == (
        "SUCCESS", "FAILED", "ABORTED", "UNKNOWN", "UNFINISHED", "IN_PROGRESS",
    )  # fmt: skip
    assert STORED_OUTCOMES == ("SUCCESS", "FAILED", "ABORTED", "UNKNOWN", "IN_PROGRESS")
    assert frozenset({"UNFINISHED", "IN_PROGRESS"}) == OPEN_OUTCOMES
    assert list(OUTCOME_FIELDS.items()) == [
        ("SUCCESS", "success"),
        ("FAILED", "failed"),
        ("ABORTED", "aborted"),
        ("UNKNOWN", "unknown"),
        ("UNFINISHED", "unfinished"),
        ("IN_PROGRESS", "in_progress"),
    ]


def test_outcome_counts_reads_one_attribute_per_outcome_in_order() -> None:
    counts = SimpleNamespace(
        success=1, failed=2, aborted=3, unknown=4, unfinished=5, in_progress=6, runs=99
    )
    assert list(outcome_counts(counts).items()) == [
        ("success", 1),
        ("failed", 2),
        ("aborted", 3),
        ("unknown", 4),
        ("unfinished", 5),
        ("in_progress", 6),
    ]
