"""The stored tables: the append-only event log and the merged runs."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Column, Index, Integer, Text
from sqlmodel import Field, SQLModel

from storage.model.types import UTCDateTime


class Event(SQLModel, table=True):
    """Every accepted report as sent (known fields, error text scrubbed)."""

    __tablename__ = "events"
    # Events are read by run, and by run and dedup key (the key hashes the run id, so it
    # is unique within its run exactly when it is unique: migration 0010).
    __table_args__ = (Index("ux_events_run_id_dedup_key", "run_id", "dedup_key", unique=True),)

    id: int | None = Field(
        default=None,
        sa_column=Column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True),
    )
    run_id: str = Field(max_length=160)
    dedup_key: str = Field(max_length=32)
    source: str = Field(max_length=32)
    kind: str = Field(max_length=8)
    status_raw: str = Field(max_length=32)
    status: str = Field(max_length=16)
    received_at: datetime = Field(sa_type=UTCDateTime)
    client_time: datetime | None = Field(default=None, sa_type=UTCDateTime)
    event_time: datetime = Field(sa_type=UTCDateTime)
    payload_version: int | None = None
    raw: dict[str, Any] = Field(sa_type=JSON)


class RunBase(SQLModel):
    """The merged view of one execution (``execution_id``, else ``random_id``)."""

    id: str = Field(primary_key=True, max_length=160)
    kind: str = Field(max_length=8)
    execution_id: str | None = Field(default=None, max_length=128)
    session_id: str | None = Field(default=None, max_length=128)
    status: str = Field(max_length=32)
    status_normalised: str = Field(max_length=16)
    outcome: str = Field(max_length=16)
    exit_code: int | None = None
    exit_code_inferred: bool = False
    error: str | None = Field(default=None, sa_type=Text)
    error_category: str | None = Field(default=None, max_length=32)
    failed_command: str | None = Field(default=None, sa_type=Text)
    failed_line: int | None = None
    duration_seconds: int | None = None
    started_at: datetime = Field(sa_type=UTCDateTime)
    last_seen_at: datetime = Field(sa_type=UTCDateTime)
    finished_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    event_count: int = 0
    last_order_key: str = Field(max_length=96)
    app: str | None = Field(default=None, max_length=100)
    type: str | None = Field(default=None, max_length=32)
    # "ctid" is a reserved system column name in PostgreSQL.
    container_id: int | None = Field(default=None, sa_type=BigInteger)
    ct_type: int | None = None
    disk_gb: int | None = None
    cores: int | None = None
    ram_mb: int | None = None
    os_type: str | None = Field(default=None, max_length=64)
    os_version: str | None = Field(default=None, max_length=64)
    pve_version: str | None = Field(default=None, max_length=64)
    method: str | None = Field(default=None, max_length=64)
    cpu_vendor: str | None = Field(default=None, max_length=64)
    cpu_model: str | None = Field(default=None, max_length=200)
    gpu_vendor: str | None = Field(default=None, max_length=64)
    gpu_model: str | None = Field(default=None, max_length=200)
    gpu_passthrough: str | None = Field(default=None, max_length=32)
    ram_speed: str | None = Field(default=None, max_length=32)
    arch: str | None = Field(default=None, max_length=32)
    platform: str | None = Field(default=None, max_length=32)
    has_arm: bool | None = None
    repo_source: str | None = Field(default=None, max_length=64)
    repo_slug: str | None = Field(default=None, max_length=200)
    payload_version: int | None = None
    kernel_version: str | None = Field(default=None, max_length=100)
    app_version: str | None = Field(default=None, max_length=100)
    disableip6: str | None = Field(default=None, max_length=16)


class Run(RunBase, table=True):
    __tablename__ = "runs"
    __table_args__ = (
        Index("ix_runs_started_at", "started_at"),
        Index("ix_runs_app_started_at", "app", "started_at"),
        Index("ix_runs_outcome_last_seen_at", "outcome", "last_seen_at"),
        # errorHistogram's sample error: the latest failed run of one code or category.
        Index("ix_runs_outcome_exit_code_started_at", "outcome", "exit_code", "started_at"),
        Index("ix_runs_outcome_category_started_at", "outcome", "error_category", "started_at"),
    )


EVENTS = Event.__table__  # type: ignore[attr-defined]
RUNS = Run.__table__  # type: ignore[attr-defined]
RUN_COLUMNS = tuple(column.name for column in RUNS.columns)
# What a writer supplies for an event (the id is the database's).
EVENT_COLUMNS = tuple(column.name for column in EVENTS.columns if column.name != "id")
