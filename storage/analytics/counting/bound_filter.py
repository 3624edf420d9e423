"""The run filter as SQL with bound parameters, for statements built once and cached.

``FilterShape`` says which parts of a filter are set (what the SQL depends on);
``filter_params`` gives the values, under the names the conditions bind (and
``plan_params`` those of a plan's pieces and spans). Cached statements
(storage/analytics/counting/statements.py, error_codes.py, errors.py) combine the two,
so a request costs no statement construction or compilation.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import BindParameter, String, and_, bindparam, case, literal_column
from sqlalchemy.sql.elements import ColumnElement

from ingest.statuses import Outcome
from storage.analytics.filters import RunFilter
from storage.analytics.timeline import Plan
from storage.model.dimensions import DIMENSIONS, Dimension
from storage.model.tables import RUNS
from storage.model.types import UTCDateTime


def time_param(name: str) -> BindParameter[datetime]:
    return bindparam(name, type_=UTCDateTime())


def values_param(dimension: Dimension) -> str:
    return f"v_{dimension.value.lower()}"


@dataclass(frozen=True, slots=True)
class FilterShape:
    since: bool
    until: bool
    filtered: tuple[Dimension, ...]  # dimensions with accepted values
    os_versions: bool
    outcomes: bool

    @classmethod
    def of(cls, run_filter: RunFilter) -> FilterShape:
        return cls(
            since=run_filter.since is not None,
            until=run_filter.until is not None,
            filtered=tuple(sorted(run_filter.values, key=lambda d: d.value)),
            os_versions=bool(run_filter.os_versions),
            outcomes=bool(run_filter.outcomes),
        )

    def run_conditions(self, times: bool = True, outcomes: bool = True) -> list[Any]:
        """The filter on the runs table (``since``/``until`` and ``cutoff`` bound)."""
        conditions: list[ColumnElement[bool]] = []
        if times and self.since:
            conditions.append(RUNS.c.started_at >= time_param("since"))
        if times and self.until:
            conditions.append(RUNS.c.started_at < time_param("until"))
        for dimension in self.filtered:
            parameter: BindParameter[Any] = bindparam(values_param(dimension), expanding=True)
            conditions.append(DIMENSIONS[dimension].sql().in_(parameter))
        if self.os_versions:
            conditions.append(RUNS.c.os_version.in_(bindparam("os_versions", expanding=True)))
        if outcomes and self.outcomes:
            conditions.append(effective_outcome().in_(bindparam("outcomes", expanding=True)))
        return conditions


def effective_outcome() -> ColumnElement[Any]:
    """As storage/analytics/filters.py's, with the cutoff bound as ``cutoff``."""
    return case(
        (
            and_(
                RUNS.c.outcome == Outcome.IN_PROGRESS.value,
                RUNS.c.last_seen_at < time_param("cutoff"),
            ),
            literal_column("'UNFINISHED'", String),
        ),
        else_=RUNS.c.outcome,
    )


def codes(accepted: frozenset[str]) -> list[int]:
    """Accepted exit codes as integers (values that are not one match nothing)."""
    return sorted({int(value) for value in accepted if value.lstrip("-").isdigit()})


def plan_params(found: Plan, params: dict[str, Any]) -> dict[str, Any]:
    """``params`` with the bounds of each rollup piece (``a``/``b`` and its index) and
    of each runs-table span (``rs``/``re``) of ``found``, as the cached statements bind
    them."""
    for index, piece in enumerate(found.pieces):
        params[f"a{index}"], params[f"b{index}"] = piece.start, piece.end
    for index, span in enumerate(found.raw):
        params[f"rs{index}"], params[f"re{index}"] = span.start, span.end
    return params


def filter_params(run_filter: RunFilter, cutoff: datetime) -> dict[str, Any]:
    params: dict[str, Any] = {
        "cutoff": cutoff,
        "since": run_filter.since,
        "until": run_filter.until,
    }
    for dimension, accepted in run_filter.values.items():
        params[values_param(dimension)] = sorted(accepted)
        if dimension is Dimension.EXIT_CODE:
            params["codes"] = codes(accepted)
    if run_filter.os_versions:
        params["os_versions"] = sorted(run_filter.os_versions)
    if run_filter.outcomes:
        params["outcomes"] = sorted(run_filter.outcomes)
        params["stored_outcomes"] = sorted(run_filter.stored_outcomes())
    return params
