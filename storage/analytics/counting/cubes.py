"""The rollup tables as cubes: which dimensions each one can group and filter by."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any

from sqlalchemy import Table
from sqlalchemy.sql.elements import ColumnElement

from storage.model.dimensions import Dimension
from storage.model.rollup_tables import (
    ROLLUP_APP,
    ROLLUP_DIMENSION,
    ROLLUP_ERROR,
    ROLLUP_GRAINS,
    ROLLUP_TOTAL,
)


@dataclass(frozen=True, slots=True, eq=False)
class Cube:
    """One rollup table (rollup_dimension: the rows of one dimension). Compared and
    hashed by identity: each cube exists once, so it can key cached statements."""

    table: Table
    columns: dict[Dimension, str]
    has_events: bool
    # What its rows' outcome column means: the stored outcome, or a constant.
    outcome: str | None = None  # None: a stored outcome column; else every row's outcome
    dimension: Dimension | None = None  # rollup_dimension rows for this dimension only

    @property
    def splits_outcome(self) -> bool:
        return self.outcome is None

    @property
    def grains(self) -> tuple[str, ...]:
        return ROLLUP_GRAINS[self.table.name]

    def column(self, dimension: Dimension) -> ColumnElement[Any]:
        return self.table.c[self.columns[dimension]]


TOTAL = Cube(ROLLUP_TOTAL, {Dimension.KIND: "kind"}, has_events=True)
APP = Cube(ROLLUP_APP, {Dimension.KIND: "kind", Dimension.APP: "app"}, has_events=True)
ERROR = Cube(
    ROLLUP_ERROR,
    {
        Dimension.KIND: "kind",
        Dimension.APP: "app",
        Dimension.EXIT_CODE: "exit_code",
        Dimension.ERROR_CATEGORY: "error_category",
    },
    has_events=False,
    outcome="FAILED",  # only FAILED runs have error rows
)
# rollup_dimension has no outcome: its rows count runs whatever their outcome.
ANY_OUTCOME = "ANY"


@cache
def dimension_cube(dimension: Dimension) -> Cube:
    return Cube(
        ROLLUP_DIMENSION,
        {Dimension.KIND: "kind", dimension: "value"},
        has_events=False,
        outcome=ANY_OUTCOME,
        dimension=dimension,
    )
