"""Every aggregate read from rollups, at each set of grains, equals the runs table's.

Stores are bulk-seeded up to the current time (so that ranges ending now take this
month and day whole and subtract their future part), once with hour and day rows
only and once with month rows in rollup_app and rollup_error as well; each dashboard
aggregate is then computed with rollups on and off, over ranges that end now, end
in the past, straddle months, start on a month or have no bound, and with filters.
The seeded rollups must also equal a rebuild from the runs table at either setting.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from cli.seed import rebuild_database_rollups, seed_database
from storage.analytics import distribution, errors, series, summary
from storage.analytics.filters import RunFilter
from storage.analytics.timeline import Interval, bucket_starts, zone
from storage.engine import Database, open_database
from storage.model.dimensions import Dimension
from storage.model.rollup_tables import ROLLUP_APP, ROLLUP_ERROR, ROLLUP_GRAINS
from tests.conftest import STORES
from tests.utils.bulk_store import rollup_snapshot

pytestmark = pytest.mark.asyncio(loop_scope="module")

NOW = datetime.now(UTC)
CUTOFF = NOW - timedelta(hours=3)
MONTH = NOW.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
RANGES = {
    "last-30-days": (NOW - timedelta(days=30), NOW),
    "last-90-days": (NOW - timedelta(days=90), NOW),
    "odd-past": (NOW - timedelta(days=75, hours=3, minutes=17), NOW - timedelta(days=8, hours=2)),
    "whole-months": ((MONTH - timedelta(days=70)).replace(day=1), MONTH),
    "into-the-future": (NOW - timedelta(days=40), NOW + timedelta(days=20)),
    "everything": (None, None),
    "until-last-week": (None, NOW - timedelta(days=7, minutes=3)),
}
GRAIN_SETTINGS = {"hours-and-days": ("h", "d"), "with-months": ("h", "d", "m")}


@pytest_asyncio.fixture(
    scope="module",
    loop_scope="module",
    params=[(store, grains) for store in STORES for grains in GRAIN_SETTINGS],
    ids=lambda param: "-".join(param),
)
async def seeded(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[tuple[str, Database]]:
    store, setting = request.param
    if store == "sqlite":
        url = f"sqlite+aiosqlite:///{Path(tmp_path_factory.mktemp('grains')) / 'grains.db'}"
    else:
        url = request.getfixturevalue("postgres_databases").fresh_database()
    with pytest.MonkeyPatch.context() as patch:
        for table in (ROLLUP_APP, ROLLUP_ERROR):
            patch.setitem(ROLLUP_GRAINS, table.name, GRAIN_SETTINGS[setting])
        await seed_database(url, runs=2500, days=150, seed=11, now=NOW, workers=0)
        database = open_database(url)
        yield url, database
        await database.dispose()


def _filters() -> list[RunFilter]:
    found = []
    for since, until in RANGES.values():
        plain = RunFilter(since=since, until=until)
        found += [
            plain,
            replace(plain, values={Dimension.KIND: frozenset({"INSTALL"})}),
            replace(plain, outcomes=frozenset({"UNFINISHED"})),
            replace(plain, outcomes=frozenset({"IN_PROGRESS", "FAILED"})),
            replace(plain, values={Dimension.EXIT_CODE: frozenset({"1", "100", "-1", "x"})}),
        ]
    return found


async def _both(database: Database, compute: Any) -> tuple[Any, Any]:
    async with database.reader.connect() as conn:
        rolled = await compute(conn, True)
        plain = await compute(conn, False)
    return rolled, plain


async def test_summary_and_app_stats(seeded: tuple[str, Database]) -> None:
    _, database = seeded
    for run_filter in _filters():
        rolled, plain = await _both(
            database,
            lambda conn, rollups, f=run_filter: summary.summarize(
                conn, run_filter=f, cutoff=CUTOFF, use_rollups=rollups
            ),
        )
        assert rolled == plain, run_filter
        rolled, plain = await _both(
            database,
            lambda conn, rollups, f=run_filter: summary.app_counts(
                conn,
                run_filter=f,
                cutoff=CUTOFF,
                order_by=summary.AppOrder.RUNS_DESC,
                min_runs=0,
                first=1000,
                use_rollups=rollups,
            ),
        )
        assert rolled == plain, run_filter


async def test_error_histograms(seeded: tuple[str, Database]) -> None:
    _, database = seeded
    for run_filter in _filters():
        for by in errors.ErrorGrouping:
            rolled, plain = await _both(
                database,
                lambda conn, rollups, f=run_filter, by=by: errors.error_histogram(
                    conn, run_filter=f, by=by, top=100, cutoff=CUTOFF, use_rollups=rollups
                ),
            )
            assert rolled == plain, (run_filter, by)
            assert rolled.total == sum(b.count for b in rolled.buckets) + rolled.other


async def test_distributions(seeded: tuple[str, Database]) -> None:
    _, database = seeded
    for run_filter in _filters():
        if run_filter.outcomes:
            continue  # no rollup holds values by outcome: both read the runs table
        for dimension in (Dimension.OS_VERSION, Dimension.APP, Dimension.EXIT_CODE):
            rolled, plain = await _both(
                database,
                lambda conn, rollups, f=run_filter, d=dimension: distribution.distribution(
                    conn, dimension=d, run_filter=f, top=500, cutoff=CUTOFF, use_rollups=rollups
                ),
            )
            assert rolled == plain, (run_filter, dimension)


@pytest.mark.parametrize(
    ("interval", "timezone", "group_by"),
    [
        (Interval.DAY, "UTC", None),
        (Interval.MONTH, "UTC", None),
        (Interval.MONTH, "UTC", Dimension.APP),
        (Interval.WEEK, "Europe/Berlin", Dimension.KIND),
        (Interval.DAY, "UTC", Dimension.OUTCOME),
    ],
)
async def test_time_series(
    seeded: tuple[str, Database], interval: Interval, timezone: str, group_by: Dimension | None
) -> None:
    _, database = seeded
    for run_filter in _filters():
        since = run_filter.since or NOW - timedelta(days=200)
        until = run_filter.until or NOW
        bounded = replace(run_filter, since=since, until=until)
        edges = bucket_starts(since, until, interval, zone(timezone), 2000)
        rolled, plain = await _both(
            database,
            lambda conn, rollups, f=bounded, e=edges: series.time_series(
                conn,
                run_filter=f,
                edges=e,
                group_by=group_by,
                top=10,
                cutoff=CUTOFF,
                use_rollups=rollups,
            ),
        )
        assert rolled == plain, (run_filter, interval, group_by)


async def test_seeded_rollups_equal_a_rebuild(seeded: tuple[str, Database]) -> None:
    url, _ = seeded
    seeded_rows = await rollup_snapshot(url)
    grains = {row[0] for row in seeded_rows[ROLLUP_APP.name]}
    assert grains == set(ROLLUP_GRAINS[ROLLUP_APP.name])
    await rebuild_database_rollups(url)
    assert await rollup_snapshot(url) == seeded_rows


async def test_error_histograms_with_runs_after_now(database_url: str) -> None:
    """Runs that start after the moment of the query (a seeding --now ahead of the
    clock) sit in buckets a plan subtracts: histograms must notice and still count
    distinct apps exactly."""
    ahead = datetime.now(UTC) + timedelta(days=2)
    with pytest.MonkeyPatch.context() as patch:
        for table in (ROLLUP_APP, ROLLUP_ERROR):
            patch.setitem(ROLLUP_GRAINS, table.name, GRAIN_SETTINGS["with-months"])
        await seed_database(database_url, runs=1500, days=20, seed=3, now=ahead, workers=0)
        database = open_database(database_url)
        try:
            # This month up to before the last runs: the month less the rest of it.
            until = ahead - timedelta(days=1)
            month = until.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
            run_filter = RunFilter(since=month, until=until)
            for by in errors.ErrorGrouping:
                rolled, plain = await _both(
                    database,
                    lambda conn, rollups, by=by: errors.error_histogram(
                        conn, run_filter=run_filter, by=by, top=100, cutoff=CUTOFF,
                        use_rollups=rollups,
                    ),
                )  # fmt: skip
                assert rolled == plain, by
                assert rolled.total > 0
        finally:
            await database.dispose()
