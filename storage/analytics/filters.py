"""The run filter of every aggregate, as conditions on runs and on rollup tables."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from sqlalchemy import and_, case, literal
from sqlalchemy.sql.elements import ColumnElement

# Re-exported: the count engine and the tests take the outcome lists from here.
from ingest.statuses import EFFECTIVE_OUTCOMES as EFFECTIVE_OUTCOMES
from ingest.statuses import OPEN_OUTCOMES as OPEN_OUTCOMES
from ingest.statuses import Outcome
from storage.model.dimensions import DIMENSIONS, Dimension
from storage.model.tables import RUNS
from storage.model.types import UTCDateTime


@dataclass(frozen=True, slots=True)
class RunFilter:
    """Runs started in [since, until) whose values are in every given set."""

    since: datetime | None = None
    until: datetime | None = None
    values: dict[Dimension, frozenset[str]] = field(default_factory=dict)
    outcomes: frozenset[str] = frozenset()
    # The OS version alone ("12"); no rollup holds it, so it always reads the runs table.
    os_versions: frozenset[str] = frozenset()

    def cache_key(self) -> tuple[object, ...]:
        """Hashable identity, for per-request memoisation."""
        values = tuple(sorted((d.value, tuple(sorted(v))) for d, v in self.values.items()))
        return (
            self.since,
            self.until,
            values,
            tuple(sorted(self.outcomes)),
            tuple(sorted(self.os_versions)),
        )

    @property
    def dimensions(self) -> set[Dimension]:
        return set(self.values)

    def with_range(self, since: datetime | None, until: datetime | None) -> RunFilter:
        return replace(self, since=since, until=until)

    def stored_outcomes(self) -> frozenset[str]:
        """Stored outcome values that can yield the requested effective outcomes."""
        stored = set(self.outcomes - OPEN_OUTCOMES)
        if self.outcomes & OPEN_OUTCOMES:
            stored.add(Outcome.IN_PROGRESS.value)
        return frozenset(stored)


def effective_outcome(cutoff: datetime) -> ColumnElement[Any]:
    """IN_PROGRESS runs silent since before ``cutoff`` are UNFINISHED (read time)."""
    return case(
        (
            and_(RUNS.c.outcome == Outcome.IN_PROGRESS.value, RUNS.c.last_seen_at < _time(cutoff)),
            literal(Outcome.UNFINISHED.value),
        ),
        else_=RUNS.c.outcome,
    )


def _time(moment: datetime) -> ColumnElement[Any]:
    return literal(moment, UTCDateTime())


def time_conditions(since: datetime | None, until: datetime | None) -> list[ColumnElement[bool]]:
    conditions = []
    if since is not None:
        conditions.append(RUNS.c.started_at >= _time(since))
    if until is not None:
        conditions.append(RUNS.c.started_at < _time(until))
    return conditions


def run_conditions(run_filter: RunFilter, cutoff: datetime) -> list[ColumnElement[bool]]:
    """The whole filter on the runs table."""
    conditions = time_conditions(run_filter.since, run_filter.until)
    for dimension, accepted in run_filter.values.items():
        conditions.append(DIMENSIONS[dimension].sql().in_(sorted(accepted)))
    if run_filter.os_versions:
        conditions.append(RUNS.c.os_version.in_(sorted(run_filter.os_versions)))
    if run_filter.outcomes:
        conditions.append(effective_outcome(cutoff).in_(sorted(run_filter.outcomes)))
    return conditions
