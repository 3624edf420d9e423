"""SQLite keeps the rollup tables WITHOUT ROWID: rows stored in primary key order.

A rowid table keeps its rows in one b-tree and its primary key in another, so a range
scan of a rollup (every dashboard query) reads the key index and then looks up each
row; without rowid the key b-tree holds the counts, a scan reads one b-tree in order,
and each ingest upsert writes one b-tree instead of two. PostgreSQL is unchanged.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-27
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def _text(name: str, length: int) -> sa.Column[Any]:
    return sa.Column(name, sa.String(length=length), nullable=False)


def _tables() -> dict[str, tuple[list[sa.Column[Any]], list[str]]]:
    """Each rollup's columns and primary key, as of revision 0004."""

    def bucket() -> list[sa.Column[Any]]:
        return [
            _text("grain", 1),
            sa.Column("bucket_start", sa.DateTime(timezone=True), nullable=False),
            _text("kind", 8),
        ]

    def count(name: str) -> sa.Column[Any]:
        return sa.Column(name, sa.Integer(), nullable=False)

    return {
        "rollup_total": (
            [*bucket(), _text("outcome", 16), count("runs"), count("events")],
            ["grain", "bucket_start", "kind", "outcome"],
        ),
        "rollup_app": (
            [*bucket(), _text("app", 100), _text("outcome", 16), count("runs"), count("events")],
            ["grain", "bucket_start", "kind", "app", "outcome"],
        ),
        "rollup_error": (
            [
                *bucket(),
                _text("app", 100),
                count("exit_code"),
                _text("error_category", 32),
                count("runs"),
            ],
            ["grain", "bucket_start", "kind", "app", "exit_code", "error_category"],
        ),
        "rollup_dimension": (
            [_text("dimension", 24), *bucket(), _text("value", 200), count("runs")],
            ["dimension", "grain", "bucket_start", "kind", "value"],
        ),
    }


def _rebuild(with_rowid: bool) -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    for name, (columns, key) in _tables().items():
        names = ", ".join(column.name for column in columns)
        op.create_table(
            f"{name}_new",
            *columns,
            sa.PrimaryKeyConstraint(*key),
            sqlite_with_rowid=with_rowid,
        )
        op.execute(f"INSERT INTO {name}_new ({names}) SELECT {names} FROM {name}")
        op.drop_table(name)
        op.rename_table(f"{name}_new", name)


def upgrade() -> None:
    _rebuild(with_rowid=False)


def downgrade() -> None:
    _rebuild(with_rowid=True)
