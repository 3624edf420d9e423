"""Outcome counts of a set of runs, and the one definition of each rate."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from ingest.statuses import OUTCOME_FIELDS, outcome_counts

Z_95 = 1.959963984540054


@dataclass(frozen=True, slots=True)
class Rate:
    numerator: int
    denominator: int

    @property
    def value(self) -> float | None:
        return None if self.denominator == 0 else self.numerator / self.denominator

    @property
    def wilson(self) -> tuple[float, float] | tuple[None, None]:
        """95 % Wilson score interval."""
        n = self.denominator
        if n == 0:
            return None, None
        p = self.numerator / n
        z2 = Z_95 * Z_95
        centre = (p + z2 / (2 * n)) / (1 + z2 / n)
        half = Z_95 * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / (1 + z2 / n)
        return max(0.0, centre - half), min(1.0, centre + half)


@dataclass(slots=True)
class OutcomeCounts:
    """Runs (and their events) by effective outcome: an attribute per OUTCOME_FIELDS
    entry, in its order (tests/test_single_sources.py pins the two equal)."""

    runs: int = 0
    events: int = 0
    success: int = 0
    failed: int = 0
    aborted: int = 0
    unknown: int = 0
    unfinished: int = 0
    in_progress: int = 0

    def add(self, outcome: str, runs: int, events: int = 0) -> None:
        self.runs += runs
        self.events += events
        attribute = OUTCOME_FIELDS[outcome]
        setattr(self, attribute, getattr(self, attribute) + runs)

    def add_all(self, runs: Sequence[int], events: int) -> None:
        """Add runs of each of EFFECTIVE_OUTCOMES, in that order, and their events.

        Unrolled: a loop over OUTCOME_FIELDS (getattr/setattr) takes three times as long,
        and this runs for every row the count engine reads."""
        success, failed, aborted, unknown, unfinished, in_progress = runs
        self.runs += success + failed + aborted + unknown + unfinished + in_progress
        self.events += events
        self.success += success
        self.failed += failed
        self.aborted += aborted
        self.unknown += unknown
        self.unfinished += unfinished
        self.in_progress += in_progress

    def any_outcome(self) -> bool:
        return any(outcome_counts(self).values())

    @property
    def success_rate(self) -> Rate:
        """success / (success + failed): aborted, unknown and open runs are not in it."""
        return Rate(self.success, self.success + self.failed)

    @property
    def failure_rate(self) -> Rate:
        return Rate(self.failed, self.success + self.failed)
