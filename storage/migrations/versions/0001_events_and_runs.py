"""Event log and merged runs.

Revision ID: 0001
Revises:
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "events",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("run_id", sa.String(length=160), nullable=False),
        sa.Column("dedup_key", sa.String(length=32), nullable=False),
        sa.Column("source", sa.String(length=32), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("status_raw", sa.String(length=32), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("client_time", sa.DateTime(timezone=True), nullable=True),
        sa.Column("event_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("payload_version", sa.Integer(), nullable=True),
        sa.Column("raw", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("dedup_key"),
    )
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.create_index("ix_events_event_time", ["event_time"], unique=False)
        batch_op.create_index("ix_events_run_id", ["run_id"], unique=False)

    op.create_table(
        "runs",
        sa.Column("id", sa.String(length=160), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("execution_id", sa.String(length=128), nullable=True),
        sa.Column("session_id", sa.String(length=128), nullable=True),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("status_normalised", sa.String(length=16), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("exit_code", sa.Integer(), nullable=True),
        sa.Column("exit_code_inferred", sa.Boolean(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("error_category", sa.String(length=32), nullable=True),
        sa.Column("failed_command", sa.Text(), nullable=True),
        sa.Column("failed_line", sa.Integer(), nullable=True),
        sa.Column("duration_seconds", sa.Integer(), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("event_count", sa.Integer(), nullable=False),
        sa.Column("last_order_key", sa.String(length=96), nullable=False),
        sa.Column("app", sa.String(length=100), nullable=True),
        sa.Column("type", sa.String(length=32), nullable=True),
        sa.Column("container_id", sa.BigInteger(), nullable=True),
        sa.Column("ct_type", sa.Integer(), nullable=True),
        sa.Column("disk_gb", sa.Integer(), nullable=True),
        sa.Column("cores", sa.Integer(), nullable=True),
        sa.Column("ram_mb", sa.Integer(), nullable=True),
        sa.Column("os_type", sa.String(length=64), nullable=True),
        sa.Column("os_version", sa.String(length=64), nullable=True),
        sa.Column("pve_version", sa.String(length=64), nullable=True),
        sa.Column("method", sa.String(length=64), nullable=True),
        sa.Column("cpu_vendor", sa.String(length=64), nullable=True),
        sa.Column("cpu_model", sa.String(length=200), nullable=True),
        sa.Column("gpu_vendor", sa.String(length=64), nullable=True),
        sa.Column("gpu_model", sa.String(length=200), nullable=True),
        sa.Column("gpu_passthrough", sa.String(length=32), nullable=True),
        sa.Column("ram_speed", sa.String(length=32), nullable=True),
        sa.Column("arch", sa.String(length=32), nullable=True),
        sa.Column("platform", sa.String(length=32), nullable=True),
        sa.Column("has_arm", sa.Boolean(), nullable=True),
        sa.Column("repo_source", sa.String(length=64), nullable=True),
        sa.Column("repo_slug", sa.String(length=200), nullable=True),
        sa.Column("payload_version", sa.Integer(), nullable=True),
        sa.Column("kernel_version", sa.String(length=100), nullable=True),
        sa.Column("app_version", sa.String(length=100), nullable=True),
        sa.Column("disableip6", sa.String(length=16), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("runs", schema=None) as batch_op:
        batch_op.create_index("ix_runs_app_started_at", ["app", "started_at"], unique=False)
        batch_op.create_index(
            "ix_runs_outcome_last_seen_at", ["outcome", "last_seen_at"], unique=False
        )
        batch_op.create_index("ix_runs_started_at", ["started_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("runs", schema=None) as batch_op:
        batch_op.drop_index("ix_runs_started_at")
        batch_op.drop_index("ix_runs_outcome_last_seen_at")
        batch_op.drop_index("ix_runs_app_started_at")

    op.drop_table("runs")
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.drop_index("ix_events_run_id")
        batch_op.drop_index("ix_events_event_time")

    op.drop_table("events")
