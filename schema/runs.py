"""The Run type: the merged view of one execution, with its events."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import strawberry

from ingest.run_record import RunRecord
from schema.enums import Kind, Outcome

if TYPE_CHECKING:
    from schema.context import SchemaContext


@strawberry.type(description="One stored report of a run.")
class RunEvent:
    status: str = strawberry.field(description="Status exactly as the client sent it.")
    received_at: datetime = strawberry.field(description="When the server received it (UTC).")
    occurred_at: datetime = strawberry.field(
        description="Event time: the report's timestamp (clamped to receipt), else receipt."
    )
    client_timestamp: datetime | None = strawberry.field(
        description="The timestamp the client sent, if any, before clamping."
    )
    source: str = strawberry.field(description="Endpoint it came through, e.g. telemetry.")


@strawberry.type(description="The merged view of one execution (execution_id, else random_id).")
class Run:
    id: strawberry.ID
    execution_id: str | None
    session_id: str | None = strawberry.field(description="The client's random_id.")
    kind: Kind
    app: str | None
    type: str | None
    status: str = strawberry.field(
        description="Raw status of the report that decides the run's state (e.g. done)."
    )
    outcome: Outcome
    exit_code: int | None = strawberry.field(description="Exit code as reported (or inferred).")
    exit_code_inferred: bool = strawberry.field(
        description="True when the client sent no code and it was read from its error text."
    )
    error_category: str | None
    error: str | None = strawberry.field(description="Error trace, scrubbed of personal data.")
    failed_command: str | None
    failed_line: int | None
    started_at: datetime = strawberry.field(description="Event time of the first report.")
    last_seen_at: datetime = strawberry.field(description="Event time of the latest report.")
    finished_at: datetime | None = strawberry.field(
        description="Event time of the terminal report that decides the outcome."
    )
    duration_seconds: int | None
    ctid: int | None
    ct_type: int | None
    disk_gb: int | None
    cores: int | None
    ram_mb: int | None
    os_type: str | None
    os_version: str | None
    pve_version: str | None
    method: str | None
    cpu_vendor: str | None
    cpu_model: str | None
    gpu_vendor: str | None
    gpu_model: str | None
    gpu_passthrough: str | None
    ram_speed: str | None
    arch: str | None
    platform: str | None
    has_arm: bool | None
    repo_source: str | None
    repo_slug: str | None
    app_version: str | None
    kernel_version: str | None
    payload_version: int | None
    event_count: int = strawberry.field(description="Stored reports (client retries count once).")

    @strawberry.field(description="Every stored report of this run, by event time.")
    async def events(self, info: strawberry.Info[SchemaContext, None]) -> list[RunEvent]:
        rows = await info.context.events_loader.load(str(self.id))
        return [
            RunEvent(
                status=row["status_raw"] or row["status"],
                received_at=row["received_at"],
                occurred_at=row["event_time"],
                client_timestamp=row["client_time"],
                source=row["source"],
            )
            for row in rows
        ]

    @classmethod
    def from_row(cls, row: RunRecord, now: datetime, unfinished_after: timedelta) -> Run:
        outcome = Outcome(row["outcome"])
        if outcome is Outcome.IN_PROGRESS and row["last_seen_at"] < now - unfinished_after:
            outcome = Outcome.UNFINISHED
        fields: dict[str, Any] = {name: row.get(name) for name in RUN_ROW_FIELDS}
        fields["ctid"] = row["container_id"]
        return cls(id=strawberry.ID(row["id"]), kind=Kind(row["kind"]), outcome=outcome, **fields)


RUN_ROW_FIELDS = tuple(
    name for name in Run.__annotations__ if name not in {"id", "kind", "outcome", "events"}
)


@strawberry.type
class PageInfo:
    has_next_page: bool
    end_cursor: str | None


@strawberry.type
class RunEdge:
    cursor: str
    node: Run


@strawberry.type(description="Runs, newest first (by start time).")
class RunConnection:
    edges: list[RunEdge]
    page_info: PageInfo
    total_count: int = strawberry.field(description="Runs matching, over all pages.")
