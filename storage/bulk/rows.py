"""Runs and events as the positional rows each store's bulk writer takes.

Converting rows and counting their rollup rows (storage/bulk/rollups.py) is per-row
Python work, so it is kept apart from the writing and free of I/O: the generator's
worker processes run it and hand over ready rows. Values are what SQLAlchemy's
column types would bind: on SQLite, UTCDateTime becomes naive UTC text with
microseconds (the form the rollups and every range query compare against); on
PostgreSQL asyncpg's COPY takes aware datetimes, booleans and the JSON text as they
are.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from operator import itemgetter
from typing import Any, Protocol

from ingest.run_record import RunRecord
from storage.bulk.rollups import rollup_rows
from storage.model.tables import EVENT_COLUMNS, EVENTS, RUN_COLUMNS, RUNS
from storage.model.types import UTCDateTime, sqlite_datetime

Row = tuple[Any, ...]


class RunsAndEvents(Protocol):
    """A batch of runs (dicts with exactly the runs columns) and their events (dicts
    with EVENT_COLUMNS, ``raw`` as JSON text)."""

    @property
    def runs(self) -> list[RunRecord]: ...

    @property
    def events(self) -> list[dict[str, Any]]: ...


@dataclass(frozen=True, slots=True)
class RowChunk:
    runs: list[Row]  # in RUN_COLUMNS order
    events: list[Row]  # in EVENT_COLUMNS order
    rollups: dict[str, list[Row]]  # rollup table -> rows (storage/bulk/rollups.py)


def _datetime_positions(columns: tuple[str, ...], table: Any) -> tuple[int, ...]:
    return tuple(
        index for index, name in enumerate(columns) if isinstance(table.c[name].type, UTCDateTime)
    )


_RUN_VALUES = itemgetter(*RUN_COLUMNS)
_EVENT_VALUES = itemgetter(*EVENT_COLUMNS)
_RUN_DATETIMES = _datetime_positions(RUN_COLUMNS, RUNS)
_EVENT_DATETIMES = _datetime_positions(EVENT_COLUMNS, EVENTS)
_STARTED_AT = RUN_COLUMNS.index("started_at")


def to_rows(chunk: RunsAndEvents, dialect: str) -> RowChunk:
    """``chunk`` as rows for ``dialect`` ("sqlite" or "postgresql"), with its rollup rows."""
    if dialect == "sqlite":
        return _sqlite_rows(chunk)
    runs = [_RUN_VALUES(run) for run in chunk.runs]
    events = [_EVENT_VALUES(event) for event in chunk.events]
    hours = [_utc_hour(run["started_at"]) for run in chunk.runs]
    return RowChunk(runs, events, rollup_rows(chunk.runs, hours, _utc_day))


def _utc_hour(started_at: datetime) -> datetime:
    return started_at.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def _utc_day(hour: datetime) -> datetime:
    return hour.replace(hour=0)


def _sqlite_day(hour: str) -> str:
    return f"{hour[:10]} 00:00:00.000000"


def _sqlite_rows(chunk: RunsAndEvents) -> RowChunk:
    """Datetimes as text, each distinct datetime object formatted once: a run's times
    are its events' times, and an event's receive time is usually its event time."""
    texts: dict[int, str | None] = {}

    def text_of(value: datetime | None) -> str | None:
        text = texts.get(id(value))
        if text is None:
            text = texts[id(value)] = sqlite_datetime(value)
        return text

    events = _with_texts(map(_EVENT_VALUES, chunk.events), _EVENT_DATETIMES, text_of)
    runs = _with_texts(map(_RUN_VALUES, chunk.runs), _RUN_DATETIMES, text_of)
    hours = [f"{row[_STARTED_AT][:13]}:00:00.000000" for row in runs]
    return RowChunk(runs, events, rollup_rows(chunk.runs, hours, _sqlite_day))


def _with_texts(
    rows: Iterable[Row], positions: tuple[int, ...], text_of: Callable[[Any], str | None]
) -> list[Row]:
    if positions != tuple(range(positions[0], positions[-1] + 1)):
        return [
            tuple(
                text_of(value) if index in positions else value for index, value in enumerate(row)
            )
            for row in rows
        ]
    first, last = positions[0], positions[-1] + 1  # the usual case: one slice per row
    return [
        (*row[:first], *[text_of(value) for value in row[first:last]], *row[last:]) for row in rows
    ]
