"""The run filter evaluated in Python on one run's state, for the live feed.

A subscriber's filter is checked against each changed run as it is published, without
a query. It must select exactly the runs that ``storage.analytics.filters.run_conditions``
selects in SQL (docs/analytics.md, "Filter"); tests/test_live_matching.py compares the
two on the same stored runs. Dimension values come from the same ``DIMENSIONS[...].key``
functions that maintain the rollups, so the three readings of a run cannot drift apart.
"""

from __future__ import annotations

from datetime import datetime

from ingest.run_record import RunRecord
from ingest.statuses import Outcome
from storage.analytics.filters import RunFilter
from storage.model.dimensions import DIMENSIONS, Dimension


def effective_outcome(run_state: RunRecord, cutoff: datetime) -> str:
    """The stored outcome; an open run silent since before ``cutoff`` is UNFINISHED."""
    outcome = run_state["outcome"]
    if outcome == Outcome.IN_PROGRESS and run_state["last_seen_at"] < cutoff:
        return Outcome.UNFINISHED.value
    return outcome


def matches(run_filter: RunFilter, run_state: RunRecord, cutoff: datetime) -> bool:
    """Whether the run is one that ``run_conditions(run_filter, cutoff)`` selects.

    A missing value (None) never matches a list that restricts it, as NULL never
    satisfies ``IN (...)`` in SQL.
    """
    started_at: datetime = run_state["started_at"]
    if run_filter.since is not None and started_at < run_filter.since:
        return False
    if run_filter.until is not None and started_at >= run_filter.until:
        return False
    for dimension, accepted in run_filter.values.items():
        if _dimension_key(dimension, run_state, cutoff) not in accepted:
            return False
    if run_filter.os_versions and run_state.get("os_version") not in run_filter.os_versions:
        return False
    return not run_filter.outcomes or effective_outcome(run_state, cutoff) in run_filter.outcomes


def _dimension_key(dimension: Dimension, run_state: RunRecord, cutoff: datetime) -> str | None:
    # OUTCOME has no entry in DIMENSIONS (its key depends on the moment of reading).
    if dimension is Dimension.OUTCOME:
        return effective_outcome(run_state, cutoff)
    return DIMENSIONS[dimension].key(run_state)
