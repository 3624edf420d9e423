"""The run record and the outcome lists each have one definition; these pin the rest to it.

RunRecord (ingest/run_record.py) must describe the runs table exactly, and everything
that names the outcomes (the GraphQL enum, the stored and effective lists, the count
attributes and fields, the rollup columns) must be the ``Outcome`` enum's list in its
order: a new outcome or column then fails here instead of being counted nowhere.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from datetime import UTC, datetime

from sqlalchemy.types import TypeDecorator
from strawberry.types.base import get_object_definition
from strawberry.types.enum import StrawberryEnumDefinition

from graphql_api.schema import build_schema
from ingest.merge import new_run
from ingest.report import build_report
from ingest.run_record import (
    DESCRIPTIVE_COLUMNS,
    NO_DESCRIPTION,
    RESULT_COLUMNS,
    RunDescription,
    RunRecord,
)
from ingest.statuses import (
    EFFECTIVE_OUTCOMES,
    OPEN_OUTCOMES,
    OUTCOME_FIELDS,
    PROGRESS_STATUSES,
    STORED_OUTCOMES,
    TERMINAL_STATUSES,
    Outcome,
    outcome_counts,
    outcome_for,
)
from schema import enums as schema_enums
from schema.analytics import RunOutcomeCounts, outcome_fields
from service.settings import Settings
from storage.analytics import filters
from storage.analytics.outcomes import OutcomeCounts
from storage.model import rollup_tables
from storage.model.rollup_tables import OUTCOME_COLUMNS, OutcomeColumns
from storage.model.tables import RUN_COLUMNS, RUNS


def test_the_graphql_outcome_enum_is_the_ingest_enum() -> None:
    assert schema_enums.Outcome is Outcome
    enum_type = build_schema(Settings()).get_type_by_name("Outcome")
    assert isinstance(enum_type, StrawberryEnumDefinition)
    assert enum_type.wrapped_cls is Outcome
    assert [value.name for value in enum_type.values] == [o.value for o in Outcome]


def test_outcome_lists_are_derived_from_the_enum() -> None:
    assert tuple(o.value for o in Outcome) == EFFECTIVE_OUTCOMES
    assert tuple(o for o in EFFECTIVE_OUTCOMES if o != "UNFINISHED") == STORED_OUTCOMES
    assert {Outcome.UNFINISHED.value, Outcome.IN_PROGRESS.value} == OPEN_OUTCOMES
    # Plain strings: they are dict keys and SQL parameters next to stored text.
    assert all(type(o) is str for o in (*EFFECTIVE_OUTCOMES, *OPEN_OUTCOMES))
    # The modules that re-export them hand out the same lists.
    assert filters.EFFECTIVE_OUTCOMES is EFFECTIVE_OUTCOMES
    assert filters.OPEN_OUTCOMES is OPEN_OUTCOMES
    assert rollup_tables.STORED_OUTCOMES is STORED_OUTCOMES


def test_stored_outcomes_are_exactly_what_the_merge_can_store() -> None:
    statuses = PROGRESS_STATUSES | TERMINAL_STATUSES
    produced = {outcome_for(status, code) for status in statuses for code in (None, 0, 1, 130)}
    assert produced == set(STORED_OUTCOMES)


def test_outcome_counts_have_a_field_per_outcome_in_enum_order() -> None:
    names = [field.name for field in dataclasses.fields(OutcomeCounts)]
    assert names == ["runs", "events", *OUTCOME_FIELDS.values()]
    assert list(OUTCOME_FIELDS) == list(EFFECTIVE_OUTCOMES)
    graphql = get_object_definition(RunOutcomeCounts, strict=True)
    assert [field.python_name for field in graphql.fields] == ["runs", *OUTCOME_FIELDS.values()]
    assert list(OutcomeColumns.model_fields) == list(OUTCOME_COLUMNS)


def test_add_all_adds_each_position_to_the_outcome_of_that_position() -> None:
    counts = OutcomeCounts()
    runs = [10**position for position in range(len(EFFECTIVE_OUTCOMES))]
    counts.add_all(runs, events=7)
    assert outcome_counts(counts) == dict(zip(OUTCOME_FIELDS.values(), runs, strict=True))
    assert (counts.runs, counts.events) == (sum(runs), 7)
    assert outcome_fields(counts) == {"runs": sum(runs), **outcome_counts(counts)}
    for outcome, field in OUTCOME_FIELDS.items():
        single = OutcomeCounts()
        single.add(outcome, 3, events=5)
        assert outcome_counts(single) == {
            name: 3 if name == field else 0 for name in OUTCOME_FIELDS.values()
        }
        assert single.any_outcome()
    assert not OutcomeCounts().any_outcome()


def _column_type(column_name: str) -> tuple[type, bool]:
    """The Python type a runs column holds (through SQLModel's AutoString and UTCDateTime
    decorators), and whether it may be NULL."""
    column = RUNS.c[column_name]
    column_type = column.type
    if isinstance(column_type, TypeDecorator):
        column_type = column_type.impl_instance
    return column_type.python_type, bool(column.nullable)


def _hint_type(hint: object) -> tuple[type, bool]:
    if isinstance(hint, types.UnionType):
        members = [member for member in typing.get_args(hint) if member is not type(None)]
        assert len(members) == 1, hint
        return members[0], True
    assert isinstance(hint, type), hint
    return hint, False


def test_run_record_is_the_runs_table() -> None:
    hints = typing.get_type_hints(RunRecord)
    assert set(hints) == set(RUN_COLUMNS) and len(hints) == len(RUN_COLUMNS)
    assert RunRecord.__required_keys__ == frozenset(RUN_COLUMNS)
    for name, hint in hints.items():
        assert _hint_type(hint) == _column_type(name), name


def test_the_descriptive_and_result_columns_are_run_columns() -> None:
    assert tuple(RunDescription.__annotations__) == DESCRIPTIVE_COLUMNS
    assert dict.fromkeys(DESCRIPTIVE_COLUMNS) == NO_DESCRIPTION
    assert set(RUN_COLUMNS) - set(DESCRIPTIVE_COLUMNS) >= RESULT_COLUMNS


def test_a_new_run_has_every_column() -> None:
    now = datetime(2026, 11, 1, tzinfo=UTC)
    run = new_run(
        build_report(
            "telemetry", {"random_id": "r", "nsapp": "debian", "status": "installing"}, now
        )
    )
    assert set(run) == set(RUN_COLUMNS)
    assert run["outcome"] == Outcome.IN_PROGRESS
