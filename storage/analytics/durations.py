"""Duration percentiles (nearest rank) of successful runs, per group, from the runs table.

Neither store shares a percentile function with the other (SQLite has none), so the
rank is computed with window functions both have: the value at rank ceil(p·n/100).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from storage.analytics.counting.counts import Keys
from storage.analytics.counting.statements import key_label, positions, side_by_side
from storage.analytics.filters import RunFilter, run_conditions
from storage.analytics.timeline import bucket_index
from storage.model.dimensions import DIMENSIONS, Dimension
from storage.model.tables import RUNS

PERCENTILES = (50, 95)

GroupKey = tuple[Keys, int | None]


async def duration_percentiles(
    conn: AsyncConnection,
    *,
    run_filter: RunFilter,
    group_by: Sequence[Dimension],
    cutoff: datetime,
    bucket_edges: Sequence[datetime] | None = None,
) -> dict[GroupKey, dict[int, int]]:
    """{(keys, bucket index): {50: p50, 95: p95}} for groups with at least one duration.

    OUTCOME may not be in ``group_by``: only successful runs have a duration here.
    """
    keys = [DIMENSIONS[d].sql().label(key_label(i)) for i, d in enumerate(group_by)]
    if bucket_edges is not None:
        keys.append(bucket_index(RUNS.c.started_at, bucket_edges).label("bucket"))
    partition = list(keys)
    ranked = (
        select(
            *keys,
            RUNS.c.duration_seconds.label("duration"),
            func.row_number()
            .over(partition_by=partition, order_by=RUNS.c.duration_seconds)
            .label("rank"),
            func.count().over(partition_by=partition).label("n"),
        )
        .where(
            *run_conditions(run_filter, cutoff),
            RUNS.c.outcome == "SUCCESS",
            RUNS.c.duration_seconds.is_not(None),
        )
        .subquery()
    )
    wanted = [ranked.c.rank == (ranked.c.n * p + 99) // 100 for p in PERCENTILES]
    statement = select(ranked).where(or_(*wanted))
    at = positions(statement)
    keys_at = side_by_side(at, [key_label(i) for i in range(len(group_by))])
    bucket_at = at["bucket"] if bucket_edges is not None else None
    duration_at, rank_at, n_at = at["duration"], at["rank"], at["n"]
    results: dict[GroupKey, dict[int, int]] = {}
    for row in await conn.execute(statement):
        group_keys: Keys = tuple(row[keys_at])
        bucket = None if bucket_at is None else int(row[bucket_at])
        rank, n = row[rank_at], row[n_at]
        entry = results.setdefault((group_keys, bucket), {})
        for p in PERCENTILES:
            if rank == (n * p + 99) // 100:
                entry[p] = int(row[duration_at])
    return results
