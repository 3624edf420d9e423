"""timeSeries and aggregate: counts per zone-aligned time bucket and per key."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum

from sqlalchemy.ext.asyncio import AsyncConnection

from storage.analytics.counting.counts import CountQuery, Keys, count_outcomes, count_runs
from storage.analytics.durations import duration_percentiles
from storage.analytics.filters import RunFilter
from storage.analytics.outcomes import OutcomeCounts
from storage.model.dimensions import Dimension

OTHER_KEY = "other"
ALL_KEY = "all"


@dataclass(slots=True)
class SeriesData:
    key: str
    points: list[OutcomeCounts]


async def time_series(
    conn: AsyncConnection,
    *,
    run_filter: RunFilter,
    edges: Sequence[datetime],
    group_by: Dimension | None,
    top: int,
    cutoff: datetime,
    use_rollups: bool = True,
) -> list[SeriesData]:
    """One series per top key plus ``other`` (or one ``all``), zero-filled over ``edges``."""
    buckets = len(edges) - 1
    query = CountQuery(
        run_filter, group_by=(group_by,) if group_by else (), bucket_edges=tuple(edges)
    )
    by_key: dict[str | None, list[OutcomeCounts]] = {}

    def points_of(key: str | None) -> list[OutcomeCounts]:
        points = by_key.get(key)
        if points is None:
            points = by_key[key] = [OutcomeCounts() for _ in range(buckets)]
        return points

    if group_by is Dimension.OUTCOME:  # outcomes as keys, not columns
        for count in await count_runs(conn, query, cutoff, use_rollups):
            assert count.bucket is not None
            points_of(count.keys[0])[count.bucket].add(count.outcome, count.runs, count.events)
    else:
        for row in await count_outcomes(conn, query, cutoff, use_rollups):
            assert row.bucket is not None
            points_of(row.keys[0] if group_by else ALL_KEY)[row.bucket] = row.counts
    if group_by is None:
        return [
            SeriesData(ALL_KEY, by_key.get(ALL_KEY) or [OutcomeCounts() for _ in range(buckets)])
        ]
    totals = {key: sum(p.runs for p in points) for key, points in by_key.items()}
    ranked = sorted((k for k in totals if k is not None), key=lambda k: (-totals[k], k))
    kept = ranked[:top]
    series = [SeriesData(key, by_key[key]) for key in kept]
    rest = [points for key, points in by_key.items() if key not in kept]
    if rest:
        other = [OutcomeCounts() for _ in range(buckets)]
        for points in rest:
            for merged, point in zip(other, points, strict=True):
                _add_counts(merged, point)
        series.append(SeriesData(OTHER_KEY, other))
    return series


def _add_counts(target: OutcomeCounts, source: OutcomeCounts) -> None:
    for name in OutcomeCounts.__slots__:
        setattr(target, name, getattr(target, name) + getattr(source, name))


class AggregateOrder(Enum):
    RUNS_DESC = "RUNS_DESC"
    RUNS_ASC = "RUNS_ASC"
    KEYS_ASC = "KEYS_ASC"
    BUCKET_ASC = "BUCKET_ASC"


@dataclass(slots=True)
class AggregateRow:
    keys: Keys
    bucket: int | None
    counts: OutcomeCounts = field(default_factory=OutcomeCounts)
    duration_p50: int | None = None
    duration_p95: int | None = None


def _key_order(row: AggregateRow) -> tuple[object, ...]:
    """Keys ascending with missing (None) last, then bucket."""
    return (*((key is None, key or "") for key in row.keys), row.bucket or 0)


async def aggregate(
    conn: AsyncConnection,
    *,
    run_filter: RunFilter,
    group_by: tuple[Dimension, ...],
    edges: Sequence[datetime] | None,
    order_by: AggregateOrder,
    first: int,
    cutoff: datetime,
    durations: bool,
    use_rollups: bool = True,
) -> tuple[list[AggregateRow], int]:
    """Rows that have runs, ordered and cut to ``first``; and how many there were."""
    query = CountQuery(run_filter, group_by=group_by, bucket_edges=tuple(edges) if edges else None)
    rows: dict[tuple[Keys, int | None], AggregateRow] = {}
    for count in await count_runs(conn, query, cutoff, use_rollups):
        row = rows.setdefault((count.keys, count.bucket), AggregateRow(count.keys, count.bucket))
        row.counts.add(count.outcome, count.runs, count.events)
    ordered = sorted(rows.values(), key=_key_order)
    if order_by is AggregateOrder.RUNS_DESC:
        ordered.sort(key=lambda row: -row.counts.runs)
    elif order_by is AggregateOrder.RUNS_ASC:
        ordered.sort(key=lambda row: row.counts.runs)
    elif order_by is AggregateOrder.BUCKET_ASC:
        ordered.sort(key=lambda row: row.bucket or 0)
    kept = ordered[:first]
    if durations and kept:
        await _add_durations(conn, run_filter, group_by, edges, cutoff, kept)
    return kept, len(rows)


async def _add_durations(
    conn: AsyncConnection,
    run_filter: RunFilter,
    group_by: tuple[Dimension, ...],
    edges: Sequence[datetime] | None,
    cutoff: datetime,
    rows: list[AggregateRow],
) -> None:
    """Percentiles over successful runs; OUTCOME keys other than SUCCESS get none."""
    outcome_at = group_by.index(Dimension.OUTCOME) if Dimension.OUTCOME in group_by else None
    plain = tuple(d for d in group_by if d is not Dimension.OUTCOME)
    found = await duration_percentiles(
        conn, run_filter=run_filter, group_by=plain, cutoff=cutoff, bucket_edges=edges
    )
    for row in rows:
        keys = row.keys
        if outcome_at is not None:
            if keys[outcome_at] != "SUCCESS":
                continue
            keys = keys[:outcome_at] + keys[outcome_at + 1 :]
        values = found.get((keys, row.bucket), {})
        row.duration_p50, row.duration_p95 = values.get(50), values.get(95)
