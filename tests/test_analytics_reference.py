"""Every analytics root field equals an independent plain-Python computation.

A seeded dataset of 5,000 runs over 90 days (every dimension varied, values missing,
DST changes inside the range, in-progress and unfinished runs) is ingested through the
real writer once per store; each query below runs through the GraphQL schema with
rollups on and with rollups off, and must return exactly what tests/utils/reference_calc
computes from the generator's own description of the runs.
"""

from __future__ import annotations

import math
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
import strawberry

from graphql_api.schema import build_schema
from resolvers.context import Context
from service.settings import Settings
from storage.engine import Database, open_database
from storage.writer.group_commit import IngestWriter
from tests.conftest import STORES
from tests.utils import reference_calc as calc
from tests.utils.reference_data import generate_dataset, load_dataset

NOW = datetime.now(UTC).replace(microsecond=0)
DATASET = generate_dataset(20261127, runs=5000, days=90, now=NOW)
UNFINISHED_AFTER = timedelta(hours=3)
MIDNIGHT = NOW.replace(hour=0, minute=0, second=0)


def _popular(attribute: str, rank: int) -> Any:
    counts: dict[Any, int] = {}
    for run in DATASET.expected:
        value = getattr(run, attribute)
        if value is not None:
            counts[value] = counts.get(value, 0) + 1
    return sorted(counts, key=lambda value: (-counts[value], str(value)))[rank]


TOP_APP, SECOND_APP, RARE_APP = _popular("app", 0), _popular("app", 1), _popular("app", 25)

FILTERS: dict[str, dict[str, Any]] = {
    "everything": {},
    "last-30-days": {"since": NOW - timedelta(days=30), "until": NOW},
    "whole-days": {"since": MIDNIGHT - timedelta(days=60), "until": MIDNIGHT},
    "two-apps": {"apps": [TOP_APP, SECOND_APP.upper()], "since": NOW - timedelta(days=45)},
    "updates": {"kinds": ["UPDATE"]},
    "failed-or-unfinished": {
        "outcomes": ["FAILED", "UNFINISHED"],
        "since": NOW - timedelta(days=20),
    },
    "open-runs": {"outcomes": ["IN_PROGRESS"]},
    "debian-12": {"osTypes": ["debian"], "osVersions": ["12"]},
    "exit-codes": {"exitCodes": [100, 130, 1], "since": NOW - timedelta(days=70)},
    "category": {"errorCategories": ["dependency", "network"]},
    "arm": {"archs": ["arm64"], "since": NOW - timedelta(days=33, hours=5)},
    "app-and-type": {"apps": [RARE_APP, TOP_APP], "types": ["lxc"]},
    "pve-method": {"pveVersions": [_popular("pve_version", 0)], "methods": ["default"]},
    "repo": {"repoSources": ["ProxmoxVE"], "until": NOW - timedelta(days=10)},
}

SUMMARY_FIELDS = "runs events success failed aborted unknown unfinished inProgress"
RATE = "{ value numerator denominator low high }"


# One event loop for the module: the loaded database's engine lives on it.
pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest_asyncio.fixture(scope="module", loop_scope="module", params=STORES)
async def loaded_database(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Database]:
    if request.param == "sqlite":
        path = Path(tmp_path_factory.mktemp("reference")) / "reference.db"
        url = f"sqlite+aiosqlite:///{path}"
    else:
        url = request.getfixturevalue("postgres_databases").fresh_database()
    await load_dataset(url, DATASET)
    database = open_database(url)
    yield database
    await database.dispose()


@pytest.fixture(scope="module")
def schema() -> strawberry.Schema:
    return build_schema(Settings())


class Runner:
    def __init__(self, schema: strawberry.Schema, database: Database, use_rollups: bool) -> None:
        self.schema = schema
        self.database = database
        self.settings = Settings(
            database_url="sqlite://", analytics_use_rollups=use_rollups, graphql_max_tokens=20000
        )

    async def query(self, document: str, **variables: Any) -> dict[str, Any]:
        context = Context(
            request=None,
            settings=self.settings,
            database=self.database,
            writer=IngestWriter(self.database, queue_size=1, batch_size=1),
            now=NOW,
        )
        result = await self.schema.execute(
            document, variable_values=variables, context_value=context
        )
        assert result.errors is None, result.errors
        assert result.data is not None
        return result.data


@pytest.fixture(params=["rollups", "runs-table"])
def run(
    request: pytest.FixtureRequest, schema: strawberry.Schema, loaded_database: Database
) -> Runner:
    return Runner(schema, loaded_database, use_rollups=request.param == "rollups")


def gql_filter(flt: dict[str, Any]) -> dict[str, Any]:
    return {
        key: value.isoformat() if isinstance(value, datetime) else value
        for key, value in flt.items()
    }


def assert_same(actual: Any, expected: Any, path: str = "") -> None:
    """Equal, floats to 1e-9."""
    if isinstance(expected, float) and isinstance(actual, (int, float)):
        assert math.isclose(actual, expected, rel_tol=1e-9, abs_tol=1e-12), path
    elif isinstance(expected, dict):
        assert isinstance(actual, dict), path
        assert set(actual) == set(expected), f"{path}: {set(actual) ^ set(expected)}"
        for key in expected:
            assert_same(actual[key], expected[key], f"{path}.{key}")
    elif isinstance(expected, list):
        assert isinstance(actual, list) and len(actual) == len(expected), (
            f"{path}: {len(actual) if isinstance(actual, list) else actual} != {len(expected)}"
        )
        for index, (got, want) in enumerate(zip(actual, expected, strict=True)):
            assert_same(got, want, f"{path}[{index}]")
    else:
        assert actual == expected, f"{path}: {actual!r} != {expected!r}"


@pytest.mark.parametrize("name", list(FILTERS))
async def test_summary_equals_reference(run: Runner, name: str) -> None:
    data = await run.query(
        f"query($f: RunFilter) {{ summary(filter: $f) {{ {SUMMARY_FIELDS} successRate {RATE} }} }}",
        f=gql_filter(FILTERS[name]),
    )
    assert_same(
        data["summary"], calc.summary(DATASET.expected, FILTERS[name], NOW, UNFINISHED_AFTER)
    )


@pytest.mark.parametrize("previous", ["PREVIOUS_PERIOD", "PREVIOUS_YEAR"])
@pytest.mark.parametrize("name", ["last-30-days", "whole-days", "two-apps"])
async def test_summary_compare_equals_reference(run: Runner, name: str, previous: str) -> None:
    flt = {**FILTERS[name], "until": FILTERS[name].get("until", NOW)}
    data = await run.query(
        f"""query($f: RunFilter, $p: ComparePeriod!) {{ summary(filter: $f) {{
            {SUMMARY_FIELDS} successRate {RATE}
            compare(previous: $p) {{
              previous {{ {SUMMARY_FIELDS} successRate {RATE} }}
              delta {{ {SUMMARY_FIELDS} successRate }} }} }} }}""",
        f=gql_filter(flt),
        p=previous,
    )
    expected = calc.compare_summary(DATASET.expected, flt, NOW, UNFINISHED_AFTER, previous)
    got = data["summary"]
    compare = got.pop("compare")
    assert_same(got, expected["current"])
    assert_same(compare["previous"], expected["previous"])
    assert_same(compare["delta"], expected["delta"])


APP_FIELDS = (
    f"app runs success failed aborted unknown unfinished inProgress successRate {RATE} "
    f"failureRate {RATE} durationP50 durationP95"
)


@pytest.mark.parametrize("order_by", calc.APP_ORDERS)
@pytest.mark.parametrize("name", ["everything", "last-30-days", "failed-or-unfinished", "arm"])
async def test_app_stats_equal_reference(run: Runner, name: str, order_by: str) -> None:
    data = await run.query(
        f"""query($f: RunFilter, $o: AppOrder!) {{
            appStats(filter: $f, orderBy: $o, first: 500) {{ {APP_FIELDS} }} }}""",
        f=gql_filter(FILTERS[name]),
        o=order_by,
    )
    expected = calc.app_stats(
        DATASET.expected, FILTERS[name], NOW, UNFINISHED_AFTER, order_by, 0, 500
    )
    assert_same(data["appStats"], expected)


async def test_app_stats_min_runs_and_first_cut_like_reference(run: Runner) -> None:
    flt = FILTERS["last-30-days"]
    data = await run.query(
        f"""query($f: RunFilter) {{
            appStats(filter: $f, minRuns: 20, first: 7, orderBy: SUCCESS_RATE_ASC) {{
              {APP_FIELDS} }} }}""",
        f=gql_filter(flt),
    )
    expected = calc.app_stats(
        DATASET.expected, flt, NOW, UNFINISHED_AFTER, "SUCCESS_RATE_ASC", 20, 7
    )
    assert_same(data["appStats"], expected)


async def test_app_stats_compare_previous_period(run: Runner) -> None:
    flt = FILTERS["last-30-days"]
    data = await run.query(
        """query($f: RunFilter) { appStats(filter: $f, first: 500) { app runs failed
             compare(previous: PREVIOUS_PERIOD) {
               previous { app runs failed } delta { runs failed } } } }""",
        f=gql_filter(flt),
    )
    before_since, before_until = calc.previous_window(flt["since"], flt["until"], "PREVIOUS_PERIOD")
    earlier = calc.app_stats(
        DATASET.expected,
        {"since": before_since, "until": before_until},
        NOW,
        UNFINISHED_AFTER,
        first=500,
    )
    previous = {row["app"]: row for row in earlier}
    for row in data["appStats"]:
        before = previous.get(row["app"], {"runs": 0, "failed": 0})
        compare = row["compare"]
        assert compare["previous"] == {
            "app": row["app"],
            "runs": before["runs"],
            "failed": before["failed"],
        }
        assert compare["delta"] == {
            "runs": row["runs"] - before["runs"],
            "failed": row["failed"] - before["failed"],
        }


HISTOGRAM = "total other buckets { key exitCode category description count share apps sampleError }"


@pytest.mark.parametrize("by", ["EXIT_CODE", "CATEGORY", "APP_EXIT_CODE"])
@pytest.mark.parametrize(
    "name", ["everything", "last-30-days", "two-apps", "exit-codes", "category", "debian-12"]
)
async def test_error_histogram_equals_reference(run: Runner, name: str, by: str) -> None:
    data = await run.query(
        f"""query($f: RunFilter, $by: ErrorGrouping!) {{
            errorHistogram(filter: $f, by: $by, top: 12) {{ {HISTOGRAM} }} }}""",
        f=gql_filter(FILTERS[name]),
        by=by,
    )
    expected = calc.error_histogram(DATASET.expected, FILTERS[name], NOW, UNFINISHED_AFTER, by, 12)
    assert_same(data["errorHistogram"], expected)


POINTS = f"key points {{ start runs success failed aborted unknown successRate {RATE} }}"
SERIES_CASES = [
    ("last-30-days", "DAY", "UTC", None),
    ("last-30-days", "DAY", "Europe/Berlin", None),
    ("whole-days", "DAY", "UTC", "APP"),
    ("everything", "DAY", "America/New_York", "OS_VERSION"),
    ("last-30-days", "HOUR", "UTC", None),
    ("whole-days", "HOUR", "Asia/Kolkata", None),
    ("two-apps", "WEEK", "Europe/Berlin", "OUTCOME"),
    ("everything", "MONTH", "America/New_York", "ARCH"),
    ("failed-or-unfinished", "DAY", "UTC", "EXIT_CODE"),
    ("arm", "DAY", "Asia/Kolkata", "KIND"),
]


@pytest.mark.parametrize(("name", "interval", "timezone", "group_by"), SERIES_CASES)
async def test_time_series_equals_reference(
    run: Runner, name: str, interval: str, timezone: str, group_by: str | None
) -> None:
    flt = FILTERS[name]
    if name == "everything":
        flt = {"since": NOW - timedelta(days=91), "until": NOW}
    data = await run.query(
        f"""query($f: RunFilter, $i: Interval!, $tz: String!, $g: Dimension) {{
            timeSeries(filter: $f, interval: $i, timezone: $tz, groupBy: $g, top: 5) {{
              {POINTS} }} }}""",
        f=gql_filter(flt),
        i=interval,
        tz=timezone,
        g=group_by,
    )
    expected = calc.time_series(
        DATASET.expected, flt, NOW, UNFINISHED_AFTER, interval, timezone, group_by, 5
    )
    assert_same(data["timeSeries"], expected)


@pytest.mark.parametrize("dimension", calc.DIMENSIONS)
async def test_distribution_of_every_dimension_equals_reference(
    run: Runner, dimension: str
) -> None:
    for name in ("last-30-days", "everything"):
        data = await run.query(
            "query($f: RunFilter, $d: Dimension!) { "
            "distribution(dimension: $d, filter: $f, top: 6) "
            "{ total other missing buckets { key count share } } }",
            f=gql_filter(FILTERS[name]),
            d=dimension,
        )
        expected = calc.distribution(
            DATASET.expected, dimension, FILTERS[name], NOW, UNFINISHED_AFTER, 6
        )
        assert_same(data["distribution"], expected)


@pytest.mark.parametrize(
    "name", ["two-apps", "updates", "open-runs", "debian-12", "arm", "app-and-type"]
)
async def test_distribution_under_filters_equals_reference(run: Runner, name: str) -> None:
    for dimension in ("APP", "OS_VERSION", "OUTCOME", "EXIT_CODE"):
        data = await run.query(
            "query($f: RunFilter, $d: Dimension!) { distribution(dimension: $d, filter: $f) "
            "{ total other missing buckets { key count share } } }",
            f=gql_filter(FILTERS[name]),
            d=dimension,
        )
        expected = calc.distribution(
            DATASET.expected, dimension, FILTERS[name], NOW, UNFINISHED_AFTER
        )
        assert_same(data["distribution"], expected)


AGGREGATE = (
    "totalGroups rows { keys bucketStart runs success failed aborted unknown unfinished "
    f"inProgress successRate {RATE} durationP50 durationP95 }}"
)
AGGREGATE_CASES = [
    (["APP"], "everything", None, "UTC", 100),
    (["OS_TYPE", "ARCH"], "last-30-days", None, "UTC", 100),
    (["KIND", "OUTCOME", "METHOD"], "whole-days", None, "UTC", 50),
    (["APP"], "two-apps", "DAY", "Europe/Berlin", 1000),
    (["OUTCOME"], "last-30-days", "WEEK", "America/New_York", 100),
    (["RAM_GB", "CORES"], "arm", "MONTH", "Asia/Kolkata", 100),
    (["EXIT_CODE", "ERROR_CATEGORY"], "failed-or-unfinished", None, "UTC", 20),
]


@pytest.mark.parametrize(("group_by", "name", "interval", "timezone", "first"), AGGREGATE_CASES)
async def test_aggregate_equals_reference(
    run: Runner, group_by: list[str], name: str, interval: str | None, timezone: str, first: int
) -> None:
    flt = FILTERS[name]
    if interval is not None and "since" not in flt:
        flt = {**flt, "since": NOW - timedelta(days=30)}
    if interval is not None and "until" not in flt:
        flt = {**flt, "until": NOW}
    data = await run.query(
        f"""query($g: [Dimension!]!, $f: RunFilter, $i: Interval, $tz: String!, $n: Int!) {{
            aggregate(groupBy: $g, filter: $f, interval: $i, timezone: $tz, first: $n) {{
              {AGGREGATE} }} }}""",
        g=group_by,
        f=gql_filter(flt),
        i=interval,
        tz=timezone,
        n=first,
    )
    expected = calc.aggregate(
        DATASET.expected, group_by, flt, NOW, UNFINISHED_AFTER, interval, timezone, first
    )
    assert_same(data["aggregate"], expected)


@pytest.mark.parametrize("name", ["everything", "two-apps", "open-runs", "debian-12"])
async def test_runs_connection_pages_through_exactly_the_matching_runs(
    run: Runner, name: str
) -> None:
    flt = FILTERS[name]
    expected = sorted(
        calc.select(DATASET.expected, flt, NOW, UNFINISHED_AFTER),
        key=lambda r: (r.started_at, r.run_id),
        reverse=True,
    )
    seen: list[str] = []
    after = None
    while True:
        data = await run.query(
            """query($f: RunFilter, $a: String) { runs(filter: $f, first: 500, after: $a) {
                 totalCount pageInfo { hasNextPage endCursor } edges { node { id } } } }""",
            f=gql_filter(flt),
            a=after,
        )
        page = data["runs"]
        assert page["totalCount"] == len(expected)
        seen.extend(edge["node"]["id"] for edge in page["edges"])
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert seen == [r.run_id for r in expected]


async def test_dataset_is_large_and_spans_ninety_days() -> None:
    assert len(DATASET.expected) >= 5000
    starts = [run.started_at for run in DATASET.expected]
    assert max(starts) - min(starts) > timedelta(days=85)
    outcomes = {calc.effective_outcome(r, NOW, UNFINISHED_AFTER) for r in DATASET.expected}
    assert {"IN_PROGRESS", "UNFINISHED", "SUCCESS", "FAILED", "ABORTED", "UNKNOWN"} <= outcomes
