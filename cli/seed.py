"""``installstats seed`` and ``installstats rebuild-rollups``: the bulk commands.

``seed`` migrates the store, then writes generated demo runs through the bulk path
(storage/bulk/load.py); ``rebuild-rollups`` recomputes the rollups from the runs table, to
repair them or after loading runs by other means.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TypeVar

from seed.generator import SeedPlan
from seed.parallel import prepared_blocks
from service.settings import Settings
from storage.bulk.load import StoreNotEmpty, bulk_load, rebuild_rollups
from storage.engine import open_database
from storage.migrate import upgrade_to_head

Number = TypeVar("Number", int, float)


@dataclass(frozen=True, slots=True)
class SeedReport:
    runs: int
    events: int
    seconds: float


def add_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "seed", help="bulk-load deterministic demo data into an empty store (migrates first)"
    )
    parser.add_argument("--runs", type=_at_least(0, int), default=100_000, help="runs to generate")
    parser.add_argument(
        "--days", type=_at_least(1, float), default=90, help="the runs start in the DAYS before now"
    )
    parser.add_argument("--seed", type=int, default=1, help="same seed (and --now), same data")
    parser.add_argument(
        "--now",
        type=_aware_time,
        default=None,
        help="end of the range, ISO 8601 with an offset (default: the current time)",
    )
    parser.add_argument(
        "--workers",
        type=_at_least(0, int),
        default=None,
        help="generator processes (default: one per core; 0: generate in this process)",
    )
    commands.add_parser("rebuild-rollups", help="recompute every rollup from the runs table")


def run_command(args: argparse.Namespace, settings: Settings) -> None:
    url = settings.database_url
    if args.command == "seed":
        try:
            report = asyncio.run(
                seed_database(
                    url, runs=args.runs, days=args.days, seed=args.seed, now=args.now,
                    workers=args.workers,
                )
            )  # fmt: skip
        except StoreNotEmpty as exc:
            raise SystemExit(f"installstats seed: {exc}") from None
        print(f"seeded {report.runs} runs and {report.events} events in {report.seconds:.1f} s")
    else:
        seconds = asyncio.run(rebuild_database_rollups(url))
        print(f"rebuilt the rollups in {seconds:.1f} s")


def _at_least(low: float, kind: Callable[[str], Number]) -> Callable[[str], Number]:
    def parse(text: str) -> Number:
        value = kind(text)
        if value < low:
            raise argparse.ArgumentTypeError(f"must be at least {low}")
        return value

    return parse


def _aware_time(text: str) -> datetime:
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        raise argparse.ArgumentTypeError("give an offset, e.g. 2026-11-27T12:00:00+00:00")
    return moment


async def seed_database(
    database_url: str,
    *,
    runs: int,
    days: float,
    seed: int,
    now: datetime | None = None,
    workers: int | None = None,
) -> SeedReport:
    """Migrate the (empty) store at ``database_url`` and bulk-load ``runs`` generated runs
    starting in the ``days`` before ``now``; ``workers`` generator processes (None: one
    per core, 0: a thread of this process)."""
    started = time.perf_counter()
    plan = SeedPlan(runs, days, seed, datetime.now(UTC) if now is None else now)
    database = open_database(database_url)
    try:
        await upgrade_to_head(database.writer)
        with tempfile.TemporaryDirectory(prefix="installstats-seed-") as scratch:
            blocks = prepared_blocks(
                plan, dialect=database.dialect, scratch=scratch, workers=workers
            )
            result = await bulk_load(database, blocks)
    finally:
        await database.dispose()
    return SeedReport(result.runs, result.events, time.perf_counter() - started)


async def rebuild_database_rollups(database_url: str) -> float:
    """Recompute every rollup of the store at ``database_url``; the seconds it took."""
    started = time.perf_counter()
    database = open_database(database_url)
    try:
        async with database.writer.begin() as conn:
            await rebuild_rollups(conn)
    finally:
        await database.dispose()
    return time.perf_counter() - started
