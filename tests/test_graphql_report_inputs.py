"""The report mutations' shortcuts give exactly what Strawberry's own machinery gives.

``schema/reports.py`` builds the report inputs from graphql-core's value with a name
map (the ``from_input`` hook) instead of Strawberry's field-by-field conversion, and
``graphql_api/guards.py`` runs the per-request extensions as one, with a validation
result kept on each cached document. These tests run the real schema without a store: the
same mutations with and without the input shortcut must hand the same raw reports to
the builder and answer the same, and the caches must hit.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
import strawberry
from strawberry.types.base import get_object_definition

import resolvers.reports
from graphql_api.guards import RequestGuards
from graphql_api.schema import build_schema
from ingest.report import Report, build_report
from resolvers.context import Context
from schema.reports import InstallReportInput, UpdateReportInput, _python_names
from service.settings import Settings
from storage.writer.group_commit import Overloaded
from storage.writer.plan import Accepted

MUTATIONS = {
    "install": "mutation($i: InstallReportInput!) { reportInstall(input: $i) { __typename "
    "... on ReportAccepted { runId duplicate } ... on ReportRejected { errors { field code "
    "message } } } }",
    "update": "mutation($i: UpdateReportInput!) { reportUpdate(input: $i) { __typename "
    "... on ReportAccepted { runId duplicate } ... on ReportRejected { errors { field code "
    "message } } } }",
    "installs": "mutation($l: [InstallReportInput!]!) { reportInstalls(inputs: $l) { "
    "__typename ... on ReportRejected { errors { field code } } } }",
}
STRINGS = ["type", "osType", "osVersion", "pveVersion", "method", "error", "errorCategory"]
STRINGS += ["cpuVendor", "cpuModel", "gpuVendor", "gpuModel", "gpuPassthrough", "ramSpeed"]
STRINGS += ["arch", "platform", "repoSource", "repoSlug", "kernelVersion", "appVersion"]
STRINGS += ["failedCommand"]
INTS = ["ctid", "ctType", "diskGb", "cores", "ramMb", "exitCode", "durationSeconds"]
INTS += ["payloadVersion", "failedLine"]


class _Writer:
    async def submit_many(self, reports: list[Report]) -> list[Accepted]:
        return [Accepted(run_id=report.run_id, duplicate=False) for report in reports]


def _report_input(rng: random.Random, index: int) -> dict[str, Any]:
    value: dict[str, Any] = {
        "randomId": f"gql-{index}",
        "app": rng.choice(["Docker", " jellyfin ", "", "x" * 101]),
        "status": rng.choice(["installing", "failed", "done", "nope", ""]),
    }
    if rng.random() < 0.5:
        value["executionId"] = rng.choice([f"exec-{index}", "", "bad\x01id"])
    for name in rng.sample(STRINGS, rng.randint(0, len(STRINGS))):
        value[name] = rng.choice([None, "", " padded ", "Mixed", "y" * 300, "nul\x00", "8G"])
    for name in rng.sample(INTS, rng.randint(0, len(INTS))):
        value[name] = rng.choice([None, 0, 1, 100, 255, 256, -3, 2_000_000_000])
    if rng.random() < 0.3:
        value["hasArm"] = rng.choice([None, True, False])
    if rng.random() < 0.3:
        moment = datetime(2026, 3, 1, 12, 30, tzinfo=UTC) + timedelta(seconds=rng.randint(0, 99))
        zone = timezone(timedelta(hours=rng.choice([0, 2, -5])))
        value["timestamp"] = rng.choice([None, moment.astimezone(zone).isoformat()])
    return value


async def _run_all(
    operations: list[tuple[str, dict[str, Any]]], monkeypatch: pytest.MonkeyPatch
) -> tuple[list[Any], list[tuple[str, dict[str, Any]]]]:
    """Answers of every operation, and every (source, raw body) handed to build_report."""
    built: list[tuple[str, dict[str, Any]]] = []

    def recording_build(source: str, raw: dict[str, Any], *args: Any) -> Report:
        built.append((source, {key: (type(value), value) for key, value in raw.items()}))
        return build_report(source, raw, *args)

    monkeypatch.setattr(resolvers.reports, "build_report", recording_build)
    settings = Settings()
    graphql_schema = build_schema(settings)
    context = Context(request=None, settings=settings, database=None, writer=_Writer())  # type: ignore[arg-type]
    answers = []
    for name, variables in operations:
        result = await graphql_schema.execute(
            MUTATIONS[name], variable_values=variables, context_value=context
        )
        answers.append((result.data, [error.message for error in result.errors or []]))
    return answers, built


@pytest.fixture
def operations() -> list[tuple[str, dict[str, Any]]]:
    rng = random.Random(11)
    result: list[tuple[str, dict[str, Any]]] = []
    for index in range(300):
        kind = rng.choice(["install", "update", "installs"])
        if kind == "installs":
            items = [_report_input(rng, index * 10 + item) for item in range(rng.randint(1, 4))]
            result.append((kind, {"l": items}))
        else:
            value = _report_input(rng, index)
            if kind == "update" and rng.random() < 0.5:
                value.pop("status")
            result.append((kind, {"i": value}))
    result.append(("install", {"i": {"app": "debian"}}))  # status missing: a GraphQL error
    result.append(("install", {"i": {"randomId": "r", "app": 5, "status": "done"}}))
    return result


def _reference_wire_fields(report_input: Any) -> dict[str, Any]:
    """resolvers.reports._wire_fields as first written: one field at a time."""
    raw: dict[str, Any] = {}
    for name, value in vars(report_input).items():
        if value is None:
            continue
        raw[resolvers.reports.WIRE_NAMES.get(name, name)] = (
            value.isoformat() if isinstance(value, datetime) else value
        )
    return raw


@pytest.fixture
def strawberry_conversion(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Strawberry's own field-by-field conversion, for the reference run."""
    monkeypatch.setattr(resolvers.reports, "_wire_fields", _reference_wire_fields)
    definitions = [
        get_object_definition(cls, strict=True) for cls in (InstallReportInput, UpdateReportInput)
    ]
    hooks = [definition.from_input for definition in definitions]
    for definition in definitions:
        definition.from_input = None
    yield
    for definition, hook in zip(definitions, hooks, strict=True):
        definition.from_input = hook


async def test_inputs_build_the_same_reports_as_strawberrys_conversion(
    operations: list[tuple[str, dict[str, Any]]],
    monkeypatch: pytest.MonkeyPatch,
    request: pytest.FixtureRequest,
) -> None:
    answers, built = await _run_all(operations, monkeypatch)
    assert any(data and "ReportAccepted" in str(data) for data, _ in answers)
    assert any(data and "ReportRejected" in str(data) for data, _ in answers)
    request.getfixturevalue("strawberry_conversion")
    reference_answers, reference_built = await _run_all(operations, monkeypatch)
    # An update without ids gets a random run id; everything else must match.
    assert len(built) == len(reference_built)
    assert built == reference_built
    for (data, errors), (reference_data, reference_errors) in zip(
        answers, reference_answers, strict=True
    ):
        assert errors == reference_errors
        if "update:" not in str(data):
            assert data == reference_data


def test_only_plain_scalar_inputs_take_the_shortcut() -> None:
    @strawberry.input
    class Nested:
        tags: list[str]

    with pytest.raises(TypeError, match="not a plain scalar"):
        _python_names(Nested, strawberry.schema.config.StrawberryConfig().name_converter)


async def test_parse_and_validation_caches_hit() -> None:
    settings = Settings()
    graphql_schema = build_schema(settings)
    [guards] = graphql_schema.extensions
    assert isinstance(guards, RequestGuards)
    context = Context(request=None, settings=settings, database=None, writer=_Writer())  # type: ignore[arg-type]
    for index in range(5):
        variables = {"i": {"randomId": f"cache-{index}", "app": "debian", "status": "installing"}}
        query = MUTATIONS["install"] + "\n"  # a new string, as each request's body gives
        result = await graphql_schema.execute(
            query, variable_values=variables, context_value=context
        )
        assert result.errors is None
    assert (guards.parses, guards.validations) == (1, 1)  # then looked up four times
    for _ in range(2):
        invalid = await graphql_schema.execute("{ nosuchfield }", context_value=context)
        assert invalid.errors and "nosuchfield" in invalid.errors[0].message
    assert (guards.parses, guards.validations) == (2, 2)  # invalid documents are kept too


async def test_each_schema_validates_against_its_own_limits() -> None:
    """The caches are per schema: a document one schema accepted is validated anew by
    another, whose alias limit refuses it."""
    query = (
        "mutation($i: InstallReportInput!) { a: reportInstall(input: $i) { __typename } "
        "b: reportInstall(input: $i) { __typename } }"
    )
    variables = {"i": {"randomId": "aliases-1", "app": "debian", "status": "installing"}}
    schemas = [build_schema(Settings(graphql_max_aliases=limit)) for limit in (2, 1, 2)]
    context = Context(request=None, settings=Settings(), database=None, writer=_Writer())  # type: ignore[arg-type]
    answers = []
    for graphql_schema in schemas:
        result = await graphql_schema.execute(
            query, variable_values=variables, context_value=context
        )
        answers.append([error.message for error in result.errors or []])
    assert answers[0] == answers[2] == []
    assert len(answers[1]) == 1 and "2 aliases" in answers[1][0] and "Allowed: 1" in answers[1][0]


class _FailingWriter:
    def __init__(self, error: Exception) -> None:
        self.error = error

    async def submit_many(self, reports: list[Report]) -> list[Accepted]:
        raise self.error


@pytest.mark.parametrize(
    ("error", "message"),
    [
        (RuntimeError("secret internals at /srv/db"), "Unexpected error."),
        (Overloaded(), "the server is busy; retry later"),
    ],
)
async def test_crashes_are_masked_and_deliberate_errors_kept(
    error: Exception, message: str
) -> None:
    settings = Settings()
    writer = _FailingWriter(error)
    context = Context(request=None, settings=settings, database=None, writer=writer)  # type: ignore[arg-type]
    variables = {"i": {"randomId": "mask-1", "app": "debian", "status": "installing"}}
    result = await build_schema(settings).execute(
        MUTATIONS["install"], variable_values=variables, context_value=context
    )
    assert [graphql_error.message for graphql_error in result.errors or []] == [message]
