"""rollup_dimension counts runs per value whatever their outcome.

Finishing a run then no longer moves its per-dimension rows, which halves the rows
the ingest transaction writes. Existing counts are kept: the new rows are the old ones
summed over outcome.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

KEY = ["dimension", "grain", "bucket_start", "kind", "value"]


def _create(name: str, with_outcome: bool) -> None:
    columns: list[sa.schema.SchemaItem] = [
        sa.Column("dimension", sa.String(length=24), nullable=False),
        sa.Column("grain", sa.String(length=1), nullable=False),
        sa.Column("bucket_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
    ]
    if with_outcome:
        columns.append(sa.Column("outcome", sa.String(length=16), nullable=False))
    columns += [
        sa.Column("value", sa.String(length=200), nullable=False),
        sa.Column("runs", sa.Integer(), nullable=False),
    ]
    key = [*KEY[:4], "outcome", "value"] if with_outcome else KEY
    op.create_table(name, *columns, sa.PrimaryKeyConstraint(*key, name=f"{name}_pkey"))


def _swap(new: str, old_columns: str, new_columns: str, group: str) -> None:
    op.execute(
        f"INSERT INTO {new} ({new_columns}) SELECT {old_columns} FROM rollup_dimension "
        f"GROUP BY {group} HAVING SUM(runs) <> 0"
    )
    op.drop_table("rollup_dimension")
    op.rename_table(new, "rollup_dimension")
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            f"ALTER TABLE rollup_dimension RENAME CONSTRAINT {new}_pkey TO rollup_dimension_pkey"
        )


def upgrade() -> None:
    _create("rollup_dimension_new", with_outcome=False)
    keys = ", ".join(KEY)
    _swap("rollup_dimension_new", f"{keys}, SUM(runs)", f"{keys}, runs", keys)


def downgrade() -> None:
    # Outcomes per value cannot be recovered from totals: the old table comes back with
    # every run under UNKNOWN; rebuild the rollups from runs after downgrading.
    _create("rollup_dimension_old", with_outcome=True)
    keys = ", ".join(KEY)
    _swap(
        "rollup_dimension_old",
        "dimension, grain, bucket_start, kind, 'UNKNOWN', value, SUM(runs)",
        "dimension, grain, bucket_start, kind, outcome, value, runs",
        keys,
    )
