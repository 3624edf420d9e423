"""Generating blocks in worker processes while the store writes earlier ones.

Generation is pure Python (~50 µs a run on a small machine) and so is preparing rows
for a store, so in one process they would take turns with the writer on one core.
Blocks are independent (seed/generator.py SeedPlan): workers generate them, count
their rollup rows and hand them over ready to write (for SQLite as a shard file,
storage/bulk/sqlite_loader.py; for PostgreSQL as COPY records), in block order. At most
``workers + 1`` blocks are in flight, which bounds memory whatever the number of runs.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
from collections import deque
from collections.abc import AsyncIterator
from concurrent.futures import Future, ProcessPoolExecutor
from pathlib import Path

from seed.generator import SeedPlan, generate_block
from storage.bulk.rows import RowChunk, to_rows
from storage.bulk.sqlite_loader import SqliteShard, write_shard

Prepared = RowChunk | SqliteShard


def default_workers() -> int:
    return max(1, min(4, os.cpu_count() or 1))


def prepare_block(plan: SeedPlan, block: int, dialect: str, scratch: str) -> Prepared:
    """One block, ready for ``dialect``'s bulk writer (runs in a worker process)."""
    rows = to_rows(generate_block(plan, block), dialect)
    if dialect == "sqlite":
        return write_shard(str(Path(scratch) / f"block-{block:07d}.db"), rows)
    return rows


async def prepared_blocks(
    plan: SeedPlan, *, dialect: str, scratch: str, workers: int | None = None
) -> AsyncIterator[Prepared]:
    """The plan's blocks ready to write, in order. SQLite shards are files in
    ``scratch``, which must outlive the writing; ``workers=0`` prepares the blocks in a
    thread of this process (tests, one-core machines)."""
    workers = default_workers() if workers is None else workers
    if workers == 0:
        for block in range(plan.blocks):
            yield await asyncio.to_thread(prepare_block, plan, block, dialect, scratch)
        return
    # "spawn": forking a process that holds the database driver's threads is unsafe.
    context = multiprocessing.get_context("spawn")
    # Shards wait on disk, not in memory: a few blocks ahead absorb the writer's uneven
    # pace (its unique indexes get slower as they grow). Rows wait in memory: one ahead.
    ahead = 4 * workers if dialect == "sqlite" else workers + 1
    with ProcessPoolExecutor(workers, mp_context=context) as pool:
        pending: deque[Future[Prepared]] = deque()
        submitted = 0
        try:
            while submitted < plan.blocks or pending:
                while submitted < plan.blocks and len(pending) < ahead:
                    pending.append(pool.submit(prepare_block, plan, submitted, dialect, scratch))
                    submitted += 1
                yield await asyncio.wrap_future(pending.popleft())
        finally:
            for future in pending:
                future.cancel()
