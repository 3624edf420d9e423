"""rollup_app and rollup_error also keep UTC months, summed from their day rows.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-27
"""

from __future__ import annotations

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

KEYS = {
    "rollup_app": ("kind", "app", "outcome"),
    "rollup_error": ("kind", "app", "exit_code", "error_category"),
}
MEASURES = {"rollup_app": ("runs", "events"), "rollup_error": ("runs",)}


def _month(column: str) -> str:
    if op.get_bind().dialect.name == "sqlite":
        return f"substr({column}, 1, 7) || '-01 00:00:00.000000'"
    return f"date_trunc('month', {column} AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'"


def upgrade() -> None:
    for table, keys in KEYS.items():
        measures = MEASURES[table]
        month = _month("bucket_start")
        columns = ", ".join(("grain", "bucket_start", *keys, *measures))
        sums = ", ".join(f"SUM({m})" for m in measures)
        op.execute(
            f"INSERT INTO {table} ({columns}) SELECT 'm', {month}, {', '.join(keys)}, {sums} "
            f"FROM {table} WHERE grain = 'd' GROUP BY {month}, {', '.join(keys)}"
        )


def downgrade() -> None:
    for table in KEYS:
        op.execute(f"DELETE FROM {table} WHERE grain = 'm'")
