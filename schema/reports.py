"""Inputs and results of the report mutations (the GraphQL twin of the REST shim)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import strawberry


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
