"""Inputs and results of the report mutations (the GraphQL twin of the REST shim)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from functools import cache
from typing import Annotated, Any

import strawberry
from strawberry.schema.name_converter import NameConverter
from strawberry.types.arguments import InputContext
from strawberry.types.base import StrawberryOptional, get_object_definition


@strawberry.input(description="Fields every report may carry; empty values are ignored.")
class ReportFields:
    random_id: str | None = strawberry.field(default=None, description="The client session.")
    execution_id: str | None = strawberry.field(
        default=None, description="The attempt; a retry from the recovery menu gets a new one."
    )
    type: str | None = strawberry.field(default=None, description="lxc, vm, pve, addon, …")
    ctid: int | None = None
    ct_type: int | None = strawberry.field(default=None, description="0/1 unprivileged, 2 VM.")
    disk_gb: int | None = None
    cores: int | None = None
    ram_mb: int | None = None
    os_type: str | None = None
    os_version: str | None = None
    pve_version: str | None = None
    method: str | None = None
    exit_code: int | None = strawberry.field(default=None, description="0–255.")
    error: str | None = strawberry.field(default=None, description="Scrubbed before storing.")
    error_category: str | None = None
    duration_seconds: int | None = strawberry.field(default=None, description="0–86400.")
    cpu_vendor: str | None = None
    cpu_model: str | None = None
    gpu_vendor: str | None = None
    gpu_model: str | None = None
    gpu_passthrough: str | None = None
    ram_speed: str | None = None
    arch: str | None = None
    platform: str | None = None
    has_arm: bool | None = None
    repo_source: str | None = None
    repo_slug: str | None = None
    payload_version: int | None = None
    kernel_version: str | None = None
    app_version: str | None = None
    failed_command: str | None = None
    failed_line: int | None = None
    timestamp: datetime | None = strawberry.field(
        default=None,
        description="When it happened, for backfills; future times are clamped to receipt.",
    )


@strawberry.input(description="A container/VM/tool install report (like POST /telemetry).")
class InstallReportInput(ReportFields):
    app: str = strawberry.field(description="App/script slug (nsapp), e.g. homeassistant.")
    status: str = strawberry.field(
        description="installing, validation, configuring, success, failed, aborted, unknown "
        "(also done/sucess from old clients)."
    )


@strawberry.input(
    description="An application update report (like POST /update). Without randomId/"
    "executionId it is a complete run of its own and the server assigns its id."
)
class UpdateReportInput(ReportFields):
    app: str = strawberry.field(description="App slug being updated.")
    status: str | None = strawberry.field(
        default=None, description="Status; may be omitted when exitCode is given."
    )


# Strawberry converts an input field by field, resolving each field's type and GraphQL
# name on every request: about 1 ms for a report's ~36 fields. Every field here is a
# scalar that graphql-core has already parsed (String, Int, Boolean, DateTime), and for
# a scalar that conversion returns the value as it is, so the report inputs build
# themselves from graphql-core's value with a name map made once (the
# ``from_input`` hook of their type definition). Schema and answers do not change.
_SCALARS = (str, int, bool, datetime)


@cache
def _python_names(cls: type, name_converter: NameConverter) -> dict[str, str]:
    """GraphQL input field name -> Python attribute, as the schema's converter names them."""
    definition = get_object_definition(cls, strict=True)
    names: dict[str, str] = {}
    for field in definition.fields:
        field_type = field.resolve_type(type_definition=definition)
        scalar = field_type.of_type if isinstance(field_type, StrawberryOptional) else field_type
        if scalar not in _SCALARS:  # a nested input, list or enum would need converting
            raise TypeError(f"{cls.__name__}.{field.python_name} is not a plain scalar")
        names[name_converter.from_field(field)] = field.python_name
    return names


def _from_input(cls: type, value: Mapping[str, Any], context: InputContext) -> Any:
    names = _python_names(cls, context.config.name_converter)
    return cls(**{names[name]: field_value for name, field_value in value.items()})


for _input in (InstallReportInput, UpdateReportInput):
    get_object_definition(_input, strict=True).from_input = _from_input


@strawberry.type(description="The report is stored and committed.")
class ReportAccepted:
    run_id: strawberry.ID
    duplicate: bool = strawberry.field(
        description="True when this exact report was already stored (a client retry)."
    )


@strawberry.type
class FieldError:
    field: str | None = strawberry.field(description="Input field at fault, if one is.")
    code: str = strawberry.field(description="Stable code: missing_field, out_of_range, …")
    message: str


@strawberry.type(description="The report was not stored; nothing was written.")
class ReportRejected:
    errors: list[FieldError]


ReportResult = Annotated[ReportAccepted | ReportRejected, strawberry.union("ReportResult")]
