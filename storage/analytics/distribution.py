"""distribution: runs per value of one dimension, with exact other and missing."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncConnection

from storage.analytics.counting.counts import CountQuery, count_runs
from storage.analytics.filters import RunFilter
from storage.model.dimensions import Dimension


@dataclass(frozen=True, slots=True)
class DistributionData:
    total: int
    buckets: list[tuple[str, int]]
    other: int
    missing: int


def rank_values(counts: dict[str | None, int], top: int) -> DistributionData:
    """Top values by count (ties by key); everything else is other or missing."""
    missing = counts.get(None, 0)
    valued = sorted(
        ((key, count) for key, count in counts.items() if key is not None and count),
        key=lambda item: (-item[1], item[0]),
    )
    kept = valued[:top]
    other = sum(count for _, count in valued[top:])
    return DistributionData(sum(counts.values()), kept, other, missing)


async def distribution(
    conn: AsyncConnection,
    *,
    dimension: Dimension,
    run_filter: RunFilter,
    top: int,
    cutoff: datetime,
    use_rollups: bool = True,
) -> DistributionData:
    counts: dict[str | None, int] = {}
    query = CountQuery(run_filter, group_by=(dimension,), by_outcome=False)
    for row in await count_runs(conn, query, cutoff, use_rollups):
        counts[row.keys[0]] = counts.get(row.keys[0], 0) + row.runs
    return rank_values(counts, top)
