"""rollup_total and rollup_app: a column per outcome instead of a row per outcome.

appStats over 90 days at 1M runs read ~10,000 rollup_app rows (apps × 5 outcomes ×
pieces) and pivoted them with a CASE per outcome: 18 ms in SQLite on the bench host.
With the runs and events of each stored outcome as columns of one row, it reads a
fifth of the rows and sums columns (measured on a copy: 9.1 -> 3.9 ms for the same
sums), and a run that finishes moves its count within one row: one upsert where
there were two. On PostgreSQL the new keys carry no INCLUDE (migration 0008 had one
for rollup_app): ten measures would double the index, and an update of a covered
column cannot be HOT.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-02
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

KEYS = {
    "rollup_total": ("grain", "bucket_start", "kind"),
    "rollup_app": ("grain", "bucket_start", "kind", "app"),
}
KEY_TYPES: dict[str, sa.types.TypeEngine[Any]] = {
    "grain": sa.String(length=1),
    "bucket_start": sa.DateTime(timezone=True),
    "kind": sa.String(length=8),
    "app": sa.String(length=100),
    "outcome": sa.String(length=16),
}
OUTCOMES = ("SUCCESS", "FAILED", "ABORTED", "UNKNOWN", "IN_PROGRESS")
COLUMNS = [f"runs_{o.lower()}" for o in OUTCOMES] + [f"events_{o.lower()}" for o in OUTCOMES]


def _create(name: str, keys: tuple[str, ...], measures: list[str]) -> None:
    op.create_table(
        name,
        *(sa.Column(key, KEY_TYPES[key], nullable=False) for key in keys),
        *(sa.Column(measure, sa.Integer(), nullable=False) for measure in measures),
        sa.PrimaryKeyConstraint(*keys, name=f"{name}_pkey"),
        sqlite_with_rowid=False,
    )


def _replace(table: str, filled_from: str) -> None:
    """Swap ``table`` for its new version ``table``_new, filled by ``filled_from``."""
    op.execute(f"INSERT INTO {table}_new {filled_from}")
    op.drop_table(table)
    op.rename_table(f"{table}_new", table)
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"ALTER INDEX {table}_new_pkey RENAME TO {table}_pkey")


def upgrade() -> None:
    for table, keys in KEYS.items():
        _create(f"{table}_new", keys, COLUMNS)
        names = ", ".join(keys)
        sums = [
            f"SUM(CASE WHEN outcome = '{o}' THEN {measure} ELSE 0 END)"
            for measure in ("runs", "events")
            for o in OUTCOMES
        ]
        _replace(table, f"SELECT {names}, {', '.join(sums)} FROM {table} GROUP BY {names}")


def downgrade() -> None:
    postgresql = op.get_bind().dialect.name == "postgresql"
    for table, keys in KEYS.items():
        _create(f"{table}_new", (*keys, "outcome"), ["runs", "events"])
        names = ", ".join(keys)
        parts = [
            f"SELECT {names}, '{o}', runs_{o.lower()}, events_{o.lower()} FROM {table} "
            f"WHERE runs_{o.lower()} <> 0 OR events_{o.lower()} <> 0"
            for o in OUTCOMES
        ]
        _replace(table, " UNION ALL ".join(parts))
        if postgresql and table == "rollup_app":  # as migration 0008 left it
            op.execute("ALTER TABLE rollup_app DROP CONSTRAINT rollup_app_pkey")
            op.execute(
                "ALTER TABLE rollup_app ADD CONSTRAINT rollup_app_pkey "
                f"PRIMARY KEY ({names}, outcome) INCLUDE (runs, events)"
            )
