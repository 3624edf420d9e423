"""Mutations: GraphQL reports go through the same validation and writer as REST."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import strawberry
from graphql import GraphQLError

from ingest.errors import ReportError
from ingest.report import Report, build_report
from resolvers.context import Context
from schema.reports import (
    FieldError,
    InstallReportInput,
    ReportAccepted,
    ReportFields,
    ReportRejected,
    ReportResult,
    UpdateReportInput,
)
from storage.writer.group_commit import Overloaded, WriterClosed

MAX_BATCH = 100

# GraphQL input field -> the wire field name the report parser knows.
WIRE_NAMES = {
    "app": "nsapp",
    "disk_gb": "disk_size",
    "cores": "core_count",
    "ram_mb": "ram_size",
    "duration_seconds": "install_duration",
}


def _wire_fields(report_input: ReportFields) -> dict[str, Any]:
    wire = WIRE_NAMES.get
    return {
        wire(name, name): value.isoformat() if isinstance(value, datetime) else value
        for name, value in vars(report_input).items()
        if value is not None
    }


INPUT_NAMES = {wire: name for name, wire in WIRE_NAMES.items()}


def _input_field(wire_name: str | None) -> str | None:
    """The GraphQL input field (camelCase) that a wire field came from."""
    if wire_name is None:
        return None
    head, *rest = INPUT_NAMES.get(wire_name, wire_name).split("_")
    return head + "".join(part.title() for part in rest)


def _rejected(error: ReportError) -> ReportRejected:
    field = _input_field(error.field)
    return ReportRejected(errors=[FieldError(field=field, code=error.code, message=error.message)])


async def _submit(
    context: Context, source: str, inputs: list[InstallReportInput] | list[UpdateReportInput]
) -> list[ReportResult]:
    if len(inputs) > MAX_BATCH:
        raise GraphQLError(f"at most {MAX_BATCH} reports per request, got {len(inputs)}")
    received_at = datetime.now(UTC)
    results: list[ReportResult | None] = []
    valid: list[Report] = []
    for report_input in inputs:
        try:
            valid.append(build_report(source, _wire_fields(report_input), received_at))
            results.append(None)
        except ReportError as error:
            results.append(_rejected(error))
    try:
        accepted = iter(await context.writer.submit_many(valid)) if valid else iter(())
    except (Overloaded, WriterClosed) as exc:
        raise GraphQLError(
            "the server is busy; retry later", extensions={"code": "OVERLOADED"}
        ) from exc
    return [
        result
        if result is not None
        else ReportAccepted(
            run_id=strawberry.ID((a := next(accepted)).run_id), duplicate=a.duplicate
        )
        for result in results
    ]


@strawberry.type
class ReportMutation:
    @strawberry.mutation(description="Report an install (container, VM, tool, addon).")
    async def report_install(
        self, info: strawberry.Info[Context, None], input: InstallReportInput
    ) -> ReportResult:
        return (await _submit(info.context, "graphql:install", [input]))[0]

    @strawberry.mutation(description="Report an application update run.")
    async def report_update(
        self, info: strawberry.Info[Context, None], input: UpdateReportInput
    ) -> ReportResult:
        return (await _submit(info.context, "graphql:update", [input]))[0]

    @strawberry.mutation(description=f"Report up to {MAX_BATCH} installs in one request.")
    async def report_installs(
        self, info: strawberry.Info[Context, None], inputs: list[InstallReportInput]
    ) -> list[ReportResult]:
        return await _submit(info.context, "graphql:install", inputs)

    @strawberry.mutation(description=f"Report up to {MAX_BATCH} updates in one request.")
    async def report_updates(
        self, info: strawberry.Info[Context, None], inputs: list[UpdateReportInput]
    ) -> list[ReportResult]:
        return await _submit(info.context, "graphql:update", inputs)
