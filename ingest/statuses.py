"""Raw client statuses, what they normalise to, and the fixed order that breaks ties."""

from __future__ import annotations

from enum import StrEnum

from ingest.exit_codes import ABORT_EXIT_CODES


class Outcome(StrEnum):
    """A run's result: the one list of outcomes. Everything that names them in turn (the
    GraphQL enum, rollup columns, count fields, filters) is derived from this order."""

    SUCCESS = "SUCCESS"
    FAILED = "FAILED"
    ABORTED = "ABORTED"
    UNKNOWN = "UNKNOWN"
    UNFINISHED = "UNFINISHED"
    IN_PROGRESS = "IN_PROGRESS"


# The outcome lists, as plain strings (they are compared with stored text, used as dict
# keys in hot loops and bound in SQL). Effective outcomes are what a reader reports.
EFFECTIVE_OUTCOMES: tuple[str, ...] = tuple(outcome.value for outcome in Outcome)
# A stored IN_PROGRESS reads as UNFINISHED once the run has been silent long enough.
OPEN_OUTCOMES = frozenset({Outcome.UNFINISHED.value, Outcome.IN_PROGRESS.value})
# What runs and rollups store: UNFINISHED is only ever derived at read time.
STORED_OUTCOMES: tuple[str, ...] = tuple(
    outcome for outcome in EFFECTIVE_OUTCOMES if outcome != Outcome.UNFINISHED
)
# Each outcome's count as a field name ("in_progress"), in EFFECTIVE_OUTCOMES order: the
# attributes of storage's OutcomeCounts and the GraphQL/REST count fields.
OUTCOME_FIELDS: dict[str, str] = {outcome: outcome.lower() for outcome in EFFECTIVE_OUTCOMES}


def outcome_counts(counts: object) -> dict[str, int]:
    """The per-outcome counts of ``counts`` (anything with an OUTCOME_FIELDS attribute
    each, such as OutcomeCounts), by field name in enum order."""
    return {field: getattr(counts, field) for field in OUTCOME_FIELDS.values()}


PROGRESS_STATUSES = frozenset({"installing", "validation", "configuring", "updating"})
TERMINAL_STATUSES = frozenset({"success", "failed", "aborted", "unknown"})

# Spellings that old clients send for a terminal status ("done" by the 2025 client,
# the typo "sucess" by early 2026 builds).
STATUS_ALIASES = {"done": "success", "sucess": "success", "successful": "success"}

# Ties in event time are broken by this order, so a merge never depends on arrival
# order alone: progress sorts first, and among terminals a definite failure or abort
# sorts after success because a client only re-sends a terminal to correct it.
STATUS_PRIORITY = {
    "installing": 0,
    "updating": 0,
    "validation": 1,
    "configuring": 2,
    "unknown": 3,
    "success": 4,
    "failed": 5,
    "aborted": 6,
}

KNOWN_RAW_STATUSES = frozenset(PROGRESS_STATUSES | TERMINAL_STATUSES | STATUS_ALIASES.keys())


def normalise_status(raw: str) -> str | None:
    """Map a raw client status to its canonical spelling; None if it is not a status."""
    cleaned = raw.strip().lower()
    cleaned = STATUS_ALIASES.get(cleaned, cleaned)
    if cleaned in PROGRESS_STATUSES or cleaned in TERMINAL_STATUSES:
        return cleaned
    return None


def is_terminal(status: str) -> bool:
    return status in TERMINAL_STATUSES


def outcome_for(status: str, exit_code: int | None) -> Outcome:
    """The stored outcome of a run whose merged status is ``status``."""
    if status == "success":
        return Outcome.SUCCESS
    if status == "aborted":
        return Outcome.ABORTED
    if status == "failed":
        return Outcome.ABORTED if exit_code in ABORT_EXIT_CODES else Outcome.FAILED
    if status == "unknown":
        return Outcome.UNKNOWN
    return Outcome.IN_PROGRESS
