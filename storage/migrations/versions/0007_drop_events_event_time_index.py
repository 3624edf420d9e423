"""Drop the events index on event_time: no query reads events by time.

Every stored report paid for it (one more b-tree insert per event, on both stores);
events are read by run (ix_events_run_id) and by dedup key only.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-27
"""

from __future__ import annotations

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index("ix_events_event_time", table_name="events")


def downgrade() -> None:
    op.create_index("ix_events_event_time", "events", ["event_time"])
