"""PostgreSQL: the primary keys of rollup_app and rollup_error carry their counts.

appStats and errorHistogram read thousands of month and day rows per query; on
PostgreSQL each was a heap fetch from a page of its own (rows of one month are spread
over the table as live ingest adds them), ~2,000 pages for a 90-day histogram at 1M
runs. With the counts INCLUDEd in the key's index, the reads are index-only scans:
measured at 1M runs, appStats over 90 days 11.0 → 5.6 ms and errorHistogram 10.3 →
6.6 ms of SQL. SQLite needs nothing: its rollups are stored in key order already
(WITHOUT ROWID, migration 0005). The other rollups (summary, distributions) are not
read in such numbers, so their updates keep PostgreSQL's cheaper HOT path.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-27
"""

from __future__ import annotations

from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

# Table: (key columns, counts); the keys are the models' primary keys.
COVERED = {
    "rollup_app": (("grain", "bucket_start", "kind", "app", "outcome"), ("runs", "events")),
    "rollup_error": (
        ("grain", "bucket_start", "kind", "app", "exit_code", "error_category"),
        ("runs",),
    ),
}


def _replace_keys(include: bool) -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table, (keys, counts) in COVERED.items():
        covering = f" INCLUDE ({', '.join(counts)})" if include else ""
        op.execute(
            f"ALTER TABLE {table} DROP CONSTRAINT {table}_pkey, "
            f"ADD CONSTRAINT {table}_pkey PRIMARY KEY ({', '.join(keys)}){covering}"
        )


def upgrade() -> None:
    _replace_keys(include=True)


def downgrade() -> None:
    _replace_keys(include=False)
