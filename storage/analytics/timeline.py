"""Time: splitting a range into rollup grains, and zone-aligned buckets (DST-correct)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import Enum
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import case, literal
from sqlalchemy.sql.elements import ColumnElement

from storage.types import UTCDateTime

HOUR = timedelta(hours=1)
DAY = timedelta(days=1)


class Interval(Enum):
    HOUR = "HOUR"
    DAY = "DAY"
    WEEK = "WEEK"
    MONTH = "MONTH"


@dataclass(frozen=True, slots=True)
class Span:
    start: datetime | None  # None: unbounded
    end: datetime | None


@dataclass(frozen=True, slots=True)
class Decomposition:
    """[since, until) as partial-hour spans (runs), hour spans and day spans (rollups)."""

    raw: list[Span]
    hours: list[Span]
    days: list[Span]
    rolled: Span | None  # the part the rollups cover


def _floor(moment: datetime, unit: timedelta) -> datetime:
    if unit == HOUR:
        return moment.replace(minute=0, second=0, microsecond=0)
    return moment.replace(hour=0, minute=0, second=0, microsecond=0)


def _ceil(moment: datetime, unit: timedelta) -> datetime:
    floor = _floor(moment, unit)
    return floor if floor == moment else floor + unit


def decompose(since: datetime | None, until: datetime | None, use_days: bool) -> Decomposition:
    start = None if since is None else _ceil(since, HOUR)
    end = None if until is None else _floor(until, HOUR)
    if start is not None and end is not None and start >= end:
        return Decomposition(raw=[Span(since, until)], hours=[], days=[], rolled=None)
    raw = []
    if since is not None and start is not None and since < start:
        raw.append(Span(since, start))
    if until is not None and end is not None and end < until:
        raw.append(Span(end, until))
    hours, days = _split_hours_and_days(start, end, use_days)
    return Decomposition(raw=raw, hours=hours, days=days, rolled=Span(start, end))


def _split_hours_and_days(
    start: datetime | None, end: datetime | None, use_days: bool
) -> tuple[list[Span], list[Span]]:
    if not use_days:
        return [Span(start, end)], []
    day_start = None if start is None else _ceil(start, DAY)
    day_end = None if end is None else _floor(end, DAY)
    if day_start is not None and day_end is not None and day_start >= day_end:
        return [Span(start, end)], []
    hours = []
    if start is not None and day_start is not None and start < day_start:
        hours.append(Span(start, day_start))
    if end is not None and day_end is not None and day_end < end:
        hours.append(Span(day_end, end))
    return hours, [Span(day_start, day_end)]


def zone(name: str) -> ZoneInfo:
    """Raises ValueError for a name that is not an IANA time zone."""
    try:
        return ZoneInfo(name)
    except (KeyError, ValueError) as exc:
        raise ValueError(f"unknown time zone {name!r}") from exc


def bucket_floor(moment: datetime, interval: Interval, tz: ZoneInfo) -> datetime:
    """Start of the bucket containing ``moment``, as an aware datetime in ``tz``."""
    local = moment.astimezone(tz)
    if interval is Interval.HOUR:
        return local.replace(minute=0, second=0, microsecond=0)
    day = local.replace(hour=0, minute=0, second=0, microsecond=0, tzinfo=None)
    if interval is Interval.WEEK:
        day -= timedelta(days=day.weekday())
    elif interval is Interval.MONTH:
        day = day.replace(day=1)
    return _localise(day, tz)


def _next_start(start: datetime, interval: Interval, tz: ZoneInfo) -> datetime:
    if interval is Interval.HOUR:
        # Step in UTC: local hours repeat or vanish at DST changes.
        return (start.astimezone(UTC) + HOUR).astimezone(tz)
    # Step on the local calendar from midnight: a bucket that began late because DST
    # skipped its midnight must not shift the buckets after it.
    day = datetime.combine(start.date(), datetime.min.time())
    if interval is Interval.DAY:
        day += DAY
    elif interval is Interval.WEEK:
        day += 7 * DAY
    else:
        day = day.replace(year=day.year + day.month // 12, month=day.month % 12 + 1, day=1)
    return _localise(day, tz)


def _localise(naive: datetime, tz: ZoneInfo) -> datetime:
    """The first instant at local time ``naive``: a midnight that a DST gap skips becomes
    the end of the gap, a repeated one its first occurrence (fold=0 does both)."""
    return naive.replace(tzinfo=tz).astimezone(UTC).astimezone(tz)


def bucket_starts(
    since: datetime, until: datetime, interval: Interval, tz: ZoneInfo, limit: int
) -> list[datetime]:
    """Starts of every bucket overlapping [since, until), plus the end of the last one."""
    starts = [bucket_floor(since, interval, tz)]
    while starts[-1] < until:
        if len(starts) > limit:
            raise ValueError(f"more than {limit} buckets; use a longer interval or range")
        starts.append(_next_start(starts[-1], interval, tz))
    return starts


def bucket_index(column: ColumnElement[Any], edges: Sequence[datetime]) -> ColumnElement[Any]:
    """SQL for the index i with edges[i] <= column < edges[i + 1] (NULL outside).

    A balanced tree of CASEs: about log2(buckets) comparisons a row, and the same
    answer on SQLite and PostgreSQL, which share no time-zone or date_trunc functions.
    """

    def subtree(low: int, high: int) -> ColumnElement[Any]:  # buckets low..high-1
        if high - low == 1:
            return literal(low)
        middle = (low + high) // 2
        return case(
            (column < literal(edges[middle], UTCDateTime()), subtree(low, middle)),
            else_=subtree(middle, high),
        )

    if len(edges) < 2:
        raise ValueError("at least one bucket is needed")
    inside = (column >= literal(edges[0], UTCDateTime())) & (
        column < literal(edges[-1], UTCDateTime())
    )
    return case((inside, subtree(0, len(edges) - 1)), else_=None)
