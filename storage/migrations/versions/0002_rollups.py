"""Rollup tables maintained in the ingest transaction.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "rollup_app",
        sa.Column("grain", sa.String(length=1), nullable=False),
        sa.Column("bucket_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("app", sa.String(length=100), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("runs", sa.Integer(), nullable=False),
        sa.Column("events", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("grain", "bucket_start", "kind", "app", "outcome"),
    )
    op.create_table(
        "rollup_dimension",
        sa.Column("dimension", sa.String(length=24), nullable=False),
        sa.Column("grain", sa.String(length=1), nullable=False),
        sa.Column("bucket_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("value", sa.String(length=200), nullable=False),
        sa.Column("runs", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("dimension", "grain", "bucket_start", "kind", "outcome", "value"),
    )
    op.create_table(
        "rollup_error",
        sa.Column("grain", sa.String(length=1), nullable=False),
        sa.Column("bucket_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("app", sa.String(length=100), nullable=False),
        sa.Column("exit_code", sa.Integer(), nullable=False),
        sa.Column("error_category", sa.String(length=32), nullable=False),
        sa.Column("runs", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint(
            "grain", "bucket_start", "kind", "app", "exit_code", "error_category"
        ),
    )
    op.create_table(
        "rollup_total",
        sa.Column("grain", sa.String(length=1), nullable=False),
        sa.Column("bucket_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("runs", sa.Integer(), nullable=False),
        sa.Column("events", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("grain", "bucket_start", "kind", "outcome"),
    )


def downgrade() -> None:
    op.drop_table("rollup_total")
    op.drop_table("rollup_error")
    op.drop_table("rollup_dimension")
    op.drop_table("rollup_app")
