"""Events: one unique index on (run_id, dedup_key) instead of two random ones.

A stored report was entered in the unique index of its dedup key (a hash: every key
lands on a random leaf) and in ix_events_run_id. A group commit of 16 reports wrote
~20 pages of the first and ~10 of the second (of ~68 in all, counted in the SQLite
WAL). The dedup key hashes the run id with the payload, so it is unique within its
run exactly when it is unique at all; one index on (run_id, dedup_key) serves the
dedup lookups and the reads by run, and a batch touches it only where its runs are.

SQLite cannot drop a table's UNIQUE constraint, so its events table is copied into a
new one (once: 33 s for the 2.8 million events of a 1M-run store on the bench host).
PostgreSQL drops the constraint and replaces installstats_known_keys (migration 0009)
with a version that looks keys up by run.

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-28
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

KNOWN_KEYS_BY_RUN = """
    CREATE FUNCTION installstats_known_keys(run_ids text[], keys text[])
    RETURNS SETOF text LANGUAGE plpgsql STABLE AS $$
    BEGIN
        RETURN QUERY EXECUTE
            'SELECT dedup_key::text FROM events WHERE run_id = ANY($1) AND dedup_key = ANY($2)'
            USING run_ids, keys;
    END
    $$"""
KNOWN_KEYS = """
    CREATE FUNCTION installstats_known_keys(keys text[])
    RETURNS SETOF text LANGUAGE plpgsql STABLE AS $$
    BEGIN
        RETURN QUERY EXECUTE
            'SELECT dedup_key::text FROM events WHERE dedup_key = ANY($1)' USING keys;
    END
    $$"""


def _event_columns() -> list[sa.Column[Any]]:
    """The events table's columns as of revision 0009."""
    return [
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
    ]


def _copy_sqlite_events(*constraints: sa.Constraint) -> None:
    columns = _event_columns()
    names = ", ".join(column.name for column in columns)
    op.create_table("events_new", *columns, sa.PrimaryKeyConstraint("id"), *constraints)
    op.execute(f"INSERT INTO events_new ({names}) SELECT {names} FROM events ORDER BY id")
    op.drop_table("events")
    op.rename_table("events_new", "events")


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        _copy_sqlite_events()
    else:
        op.drop_index("ix_events_run_id", table_name="events")
        op.drop_constraint("events_dedup_key_key", "events", type_="unique")
        op.execute("DROP FUNCTION installstats_known_keys(text[])")
        op.execute(KNOWN_KEYS_BY_RUN)
    op.create_index("ux_events_run_id_dedup_key", "events", ["run_id", "dedup_key"], unique=True)


def downgrade() -> None:
    op.drop_index("ux_events_run_id_dedup_key", table_name="events")
    if op.get_bind().dialect.name == "sqlite":
        _copy_sqlite_events(sa.UniqueConstraint("dedup_key"))
    else:
        op.create_unique_constraint("events_dedup_key_key", "events", ["dedup_key"])
        op.execute("DROP FUNCTION installstats_known_keys(text[], text[])")
        op.execute(KNOWN_KEYS)
    op.create_index("ix_events_run_id", "events", ["run_id"])
