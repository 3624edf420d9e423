"""Time: splitting a range into rollup grains, and zone-aligned buckets (DST-correct)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from enum import Enum
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import case, literal
from sqlalchemy.sql.elements import ColumnElement

from storage.model.types import UTCDateTime

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


# Rollup grains, finest first: UTC hours, days and months (storage/model/rollup_tables.py).
GRAINS = ("h", "d", "m")
# Rows a bucket of each grain holds, relative to an hour's: how plans weigh a bucket
# against the finer ones it replaces (a day holds far fewer than 24 hours' rows, as the
# same keys recur, and a month far fewer than 30 days').
GRAIN_WEIGHT = {"h": 1.0, "d": 8.0, "m": 30.0}
_SECONDS = {"h": 3600.0, "d": 86400.0, "m": 30 * 86400.0}


def grain_floor(moment: datetime, grain: str) -> datetime:
    """Start of the UTC hour, day or month containing ``moment`` (returned in UTC)."""
    moment = moment.astimezone(UTC)
    if grain == "h":
        return moment.replace(minute=0, second=0, microsecond=0)
    day = moment.replace(hour=0, minute=0, second=0, microsecond=0)
    return day if grain == "d" else day.replace(day=1)


def grain_next(start: datetime, grain: str) -> datetime:
    """Start of the bucket after the one starting at ``start``."""
    if grain == "h":
        return start + HOUR
    if grain == "d":
        return start + DAY
    return start.replace(year=start.year + start.month // 12, month=start.month % 12 + 1)


def grain_ceil(moment: datetime, grain: str) -> datetime:
    floor = grain_floor(moment, grain)
    return floor if floor == moment else grain_next(floor, grain)


def on_grain(moment: datetime, grain: str) -> bool:
    return grain_floor(moment, grain) == moment


@dataclass(frozen=True, slots=True)
class Piece:
    """Whole rollup buckets of one grain starting in [start, end), added (sign 1) or
    subtracted (sign -1)."""

    grain: str
    start: datetime | None
    end: datetime | None
    sign: int


@dataclass(frozen=True, slots=True)
class RawSpan:
    """Runs started in [start, end), read from the runs table, added or subtracted."""

    start: datetime | None
    end: datetime | None
    sign: int = 1


@dataclass(frozen=True, slots=True)
class Plan:
    """[since, until) as signed rollup pieces that sum to exactly the whole hours of
    ``rolled``, plus signed runs-table spans for the partial hours at its edges."""

    raw: list[RawSpan]
    pieces: list[Piece]
    rolled: Span | None


def plan(
    since: datetime | None,
    until: datetime | None,
    grains: Sequence[str],
    now: datetime,
    subtract_past: bool = True,
    additive: bool = False,
) -> Plan:
    """The cheapest plan with the given grains (which include "h").

    A bucket the range covers only partly is either summed from finer buckets, or
    taken whole with the finer buckets outside the range subtracted, whichever reads
    fewer rows. Buckets after ``now`` hold (almost) nothing, so a range ending now
    takes its last day and month whole: the part after now costs an index probe.
    ``now`` only steers that choice; every plan gives the same numbers. Without
    ``subtract_past`` only pieces that start at or after ``now`` are subtracted, so
    that subtracted pieces (almost) never hold rows. For the same reason a range
    that ends in the current hour (or later) takes its last hour whole and subtracts
    the runs started after ``until`` (none, unless they started since). With
    ``additive`` nothing is subtracted at all, which a union of sets needs.
    """
    start = None if since is None else grain_ceil(since, "h")
    end = None if until is None else grain_floor(until, "h")
    if start is not None and end is not None and start >= end:
        return Plan(raw=[RawSpan(since, until)], pieces=[], rolled=None)
    raw = []
    if since is not None and start is not None and since < start:
        raw.append(RawSpan(since, start))
    if until is not None and end is not None and end < until:
        if end + HOUR > now and not additive:  # the hour has not ended: what follows is empty
            raw.append(RawSpan(until, end + HOUR, -1))
            end += HOUR
        else:
            raw.append(RawSpan(end, until))
    levels = [grain for grain in reversed(GRAINS) if grain in grains]
    planner = _Planner(levels, now.astimezone(UTC), subtract_past, additive)
    _, pieces = planner.cover(start, end, 0)
    return Plan(raw=raw, pieces=_merged(pieces), rolled=Span(start, end))


class _Planner:
    def __init__(
        self, levels: list[str], now: datetime, subtract_past: bool, additive: bool
    ) -> None:
        if not levels or levels[-1] != "h":
            raise ValueError("rollup plans need the hour grain")
        self.levels, self.now, self.subtract_past = levels, now, subtract_past
        self.additive = additive

    def cost(self, grain: str, start: datetime | None, end: datetime | None) -> float:
        """Rows a piece reads, roughly: its buckets that began before now, plus a probe."""
        if start is None:
            return 1e12
        last = self.now if end is None else min(end, self.now)
        seconds = max(0.0, (last - start).total_seconds())
        return 0.5 + GRAIN_WEIGHT[grain] * seconds / _SECONDS[grain]

    def cover(
        self, start: datetime | None, end: datetime | None, level: int
    ) -> tuple[float, list[Piece]]:
        """Pieces summing to [start, end) (hour-aligned or unbounded), and their cost."""
        if start is not None and end is not None and start >= end:
            return 0.0, []
        grain = self.levels[level]
        if level == len(self.levels) - 1:
            return self.cost(grain, start, end), [Piece(grain, start, end, 1)]
        low = None if start is None else grain_ceil(start, grain)
        high = None if end is None else grain_floor(end, grain)
        if start is not None and low is not None and high is not None and low > high:
            # [start, end) lies inside one bucket
            assert end is not None
            return self.partial(grain_floor(start, grain), start, end, level)
        total, pieces = 0.0, list[Piece]()
        if start is not None and low is not None and start < low:
            cost, found = self.partial(grain_floor(start, grain), start, low, level)
            total, pieces = total + cost, pieces + found
        if low is None or high is None or low < high:
            total += self.cost(grain, low, high)
            pieces.append(Piece(grain, low, high, 1))
        if end is not None and high is not None and high < end:
            cost, found = self.partial(high, high, end, level)
            total, pieces = total + cost, pieces + found
        return total, pieces

    def partial(
        self, bucket: datetime, start: datetime, end: datetime, level: int
    ) -> tuple[float, list[Piece]]:
        """[start, end) inside the bucket starting at ``bucket``: from finer buckets, or
        the bucket minus the finer ones around the range."""
        grain = self.levels[level]
        added = self.cover(start, end, level + 1)
        bucket_end = grain_next(bucket, grain)
        before = self.cover(bucket, start, level + 1)
        after = self.cover(end, bucket_end, level + 1)
        whole = self.cost(grain, bucket, bucket_end) + before[0] + after[0]
        negated = [replace(p, sign=-p.sign) for p in before[1] + after[1]]
        allowed = not self.additive and (
            self.subtract_past
            or all(p.sign > 0 or (p.start is not None and p.start >= self.now) for p in negated)
        )
        if allowed and whole < added[0]:
            return whole, [Piece(grain, bucket, bucket_end, 1), *negated]
        return added


def _merged(pieces: list[Piece]) -> list[Piece]:
    """Adjacent pieces of one grain and sign as one (fewer ranges to scan)."""
    ordered = sorted(
        pieces, key=lambda p: (p.grain, p.sign, p.start is not None, p.start or datetime.min)
    )
    merged: list[Piece] = []
    for piece in ordered:
        last = merged[-1] if merged else None
        if (
            last is not None
            and (last.grain, last.sign) == (piece.grain, piece.sign)
            and last.end is not None
            and last.end == piece.start
        ):
            merged[-1] = replace(last, end=piece.end)
        else:
            merged.append(piece)
    return merged


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
