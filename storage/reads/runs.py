"""Reading runs and their events back (GraphQL ``run``, ``runs``, ``Run.events``)."""

from __future__ import annotations

import base64
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import ColumnElement, func, literal, select, tuple_
from sqlalchemy.ext.asyncio import AsyncEngine

from ingest.run_record import RunRecord
from storage.model.tables import EVENTS, RUNS
from storage.model.types import UTCDateTime

# One event of a run as Run.events shows it (a few columns of the events table).
EventRow = dict[str, Any]


@dataclass(frozen=True, slots=True)
class RunPage:
    rows: list[RunRecord]
    total: int
    has_next: bool


def encode_cursor(row: RunRecord) -> str:
    text = f"{row['started_at'].isoformat()}|{row['id']}"
    return base64.urlsafe_b64encode(text.encode()).decode()


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    """Raises ValueError for anything that is not a cursor this service made."""
    try:
        started, run_id = base64.urlsafe_b64decode(cursor.encode()).decode().split("|", 1)
        return datetime.fromisoformat(started), run_id
    except (ValueError, UnicodeDecodeError) as exc:
        raise ValueError("invalid cursor") from exc


async def get_run(engine: AsyncEngine, *, run_id: str) -> RunRecord | None:
    async with engine.connect() as conn:
        row = (await conn.execute(select(RUNS).where(RUNS.c.id == run_id))).first()
    # A whole runs row, as the column types return it, is a RunRecord.
    return None if row is None else cast(RunRecord, dict(row._mapping))


async def list_runs(
    engine: AsyncEngine,
    *,
    first: int,
    after: str | None,
    where: Sequence[ColumnElement[bool]] = (),
) -> RunPage:
    """Newest first (by start time, then id), keyset-paginated."""
    page = select(RUNS).where(*where)
    if after is not None:
        started, run_id = decode_cursor(after)
        page = page.where(
            tuple_(RUNS.c.started_at, RUNS.c.id)
            < tuple_(literal(started, UTCDateTime()), literal(run_id))
        )
    page = page.order_by(RUNS.c.started_at.desc(), RUNS.c.id.desc()).limit(first + 1)
    async with engine.connect() as conn:
        rows = cast(list[RunRecord], [dict(row._mapping) for row in await conn.execute(page)])
        total = (
            await conn.execute(select(func.count()).select_from(RUNS).where(*where))
        ).scalar_one()
    return RunPage(rows=rows[:first], total=total, has_next=len(rows) > first)


async def events_by_run(engine: AsyncEngine, *, run_ids: Sequence[str]) -> list[list[EventRow]]:
    """Each run's events in event-time order, in the order of ``run_ids`` (DataLoader)."""
    query = (
        select(
            EVENTS.c.run_id,
            EVENTS.c.status_raw,
            EVENTS.c.status,
            EVENTS.c.received_at,
            EVENTS.c.client_time,
            EVENTS.c.event_time,
            EVENTS.c.source,
        )
        .where(EVENTS.c.run_id.in_(run_ids))
        .order_by(EVENTS.c.event_time, EVENTS.c.id)
    )
    grouped: dict[str, list[EventRow]] = defaultdict(list)
    async with engine.connect() as conn:
        for row in await conn.execute(query):
            grouped[row.run_id].append(dict(row._mapping))
    return [grouped.get(run_id, []) for run_id in run_ids]
