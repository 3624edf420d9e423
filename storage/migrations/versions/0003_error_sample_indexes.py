"""Indexes for errorHistogram's sample errors.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27
"""

from __future__ import annotations

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        "ix_runs_outcome_exit_code_started_at", "runs", ["outcome", "exit_code", "started_at"]
    )
    op.create_index(
        "ix_runs_outcome_category_started_at", "runs", ["outcome", "error_category", "started_at"]
    )


def downgrade() -> None:
    op.drop_index("ix_runs_outcome_category_started_at", table_name="runs")
    op.drop_index("ix_runs_outcome_exit_code_started_at", table_name="runs")
