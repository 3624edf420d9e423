"""A run's merged view does not depend on arrival order, and retries are idempotent.

docs/semantics.md, "Merging": the merge is deterministic (progress never replaces a terminal, a real
terminal beats ``unknown``, a later terminal corrects an earlier one, exact duplicates
are idempotent) and must not depend on the order in which reports arrive.

Two tiers:
- pure: ``build_report`` + ``fold``/``fold_all`` driven the way the writer
  (storage/writer/plan.py) drives them, over hundreds of generated runs and many
  arrival orders, plus small explicit tests of each rule;
- end to end: the same kind of runs POSTed to a real server in shuffled, duplicated
  and concurrent orders, read back over GraphQL and compared field by field with
  ``fold_all`` of the reports.
"""

from __future__ import annotations

import asyncio
import itertools
import random
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest

from ingest.merge import fold, fold_all
from ingest.report import Report, build_report
from ingest.run_record import RunRecord
from ingest.statuses import STATUS_PRIORITY
from server import create_app
from tests.utils.client_payloads import (
    CONTAINER_METADATA,
    PLATFORM_METADATA,
    container_ping,
    host_event,
)
from tests.utils.run_scenarios import (
    BLANKABLE_FIELDS,
    COMMAND_NOT_FOUND_TEXT,
    MINIMAL_PING_KEYS,
    Body,
    Scenario,
    generate_run,
    generate_runs,
)

START = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
RECEIVED = START + timedelta(days=1)
RUN = "7f0c7a52-0b8e-4a0e-9a51-5f2f0e4d0c11"
REAL_STATUSES = ("success", "failed", "aborted")


# --------------------------------------------------------------------------- helpers


def report(body: Body, received_at: datetime = RECEIVED) -> Report:
    return build_report("telemetry", body, received_at)


def unique(reports: Iterable[Report]) -> list[Report]:
    """One report per dedup key (what the event log keeps)."""
    by_key: dict[str, Report] = {}
    for item in reports:
        by_key.setdefault(item.dedup_key, item)
    return list(by_key.values())


class EmulatedWriter:
    """storage/writer/plan.py for one run, with the event log kept in memory.

    Per batch: drop reports whose dedup key is stored (or earlier in the batch); fold
    the fresh ones in order onto the run when they all sort after its last event,
    else re-fold every stored event, rebuilt from its stored (JSON) raw fields.
    """

    def __init__(self) -> None:
        self.log: list[tuple[str, bytes, datetime]] = []
        self.keys: set[str] = set()
        self.state: RunRecord | None = None

    def deliver(self, batch: Sequence[Report]) -> list[bool]:
        """Apply one group-commit batch; the duplicate flag of each report."""
        fresh: list[Report] = []
        duplicates: list[bool] = []
        for item in batch:
            duplicates.append(item.dedup_key in self.keys)
            if item.dedup_key not in self.keys:
                self.keys.add(item.dedup_key)
                fresh.append(item)
                self.log.append((item.source, orjson.dumps(item.raw), item.received_at))
        if fresh:
            fresh.sort(key=lambda item: item.order_key)
            if self.state is None or fresh[0].order_key >= self.state["last_order_key"]:
                for item in fresh:
                    self.state = fold(self.state, item)
            else:
                self.state = fold_all(
                    build_report(source, orjson.loads(raw), received_at)
                    for source, raw, received_at in self.log
                )
        return duplicates


def deliver_one_by_one(arrivals: Sequence[Report]) -> RunRecord | None:
    writer = EmulatedWriter()
    for item in arrivals:
        writer.deliver([item])
    return writer.state


def deliver_in_batches(arrivals: Sequence[Report], rng: random.Random) -> RunRecord | None:
    writer = EmulatedWriter()
    index = 0
    while index < len(arrivals):
        size = rng.randint(1, 4)
        writer.deliver(arrivals[index : index + size])
        index += size
    return writer.state


def arrival_orders(bodies: Sequence[Body], rng: random.Random) -> list[list[Body]]:
    """Event order, its reverse and several random permutations."""
    keys = [report(body).order_key for body in bodies]
    in_order = [bodies[n] for n in sorted(range(len(bodies)), key=keys.__getitem__)]
    orders = [in_order, in_order[::-1]]
    for _ in range(6):
        shuffled = list(bodies)
        rng.shuffle(shuffled)
        orders.append(shuffled)
    return orders


def received_in_arrival_order(bodies: Sequence[Body]) -> list[Report]:
    """Reports whose receive time grows with arrival, as on a real server."""
    return [report(body, RECEIVED + timedelta(seconds=n)) for n, body in enumerate(bodies)]


def scenario_reports(scenario: Scenario) -> list[Report]:
    return [report(body) for body in scenario.bodies]


# ------------------------------------------------------------------ generated runs

SEEDS = range(25)
RUNS_PER_SEED = 10  # 250 runs in all


@pytest.mark.parametrize("seed", SEEDS)
def test_merged_run_is_the_same_for_every_arrival_order(seed):
    rng = random.Random(1000 + seed)
    for scenario in generate_runs(seed, RUNS_PER_SEED, START):
        expected = fold_all(scenario_reports(scenario))
        for order in arrival_orders(scenario.bodies, rng):
            arrivals = received_in_arrival_order(order)
            assert deliver_one_by_one(arrivals) == expected, (scenario.run_id, order)
            assert deliver_in_batches(arrivals, rng) == expected, (scenario.run_id, order)


@pytest.mark.parametrize("seed", SEEDS)
def test_every_report_delivered_twice_gives_the_same_run(seed):
    rng = random.Random(2000 + seed)
    for scenario in generate_runs(seed, RUNS_PER_SEED, START):
        expected = fold_all(scenario_reports(scenario))
        bodies = list(scenario.bodies) * 2
        rng.shuffle(bodies)
        arrivals = received_in_arrival_order(bodies)

        writer = EmulatedWriter()
        duplicates = [writer.deliver([item])[0] for item in arrivals]

        assert writer.state == expected, scenario.run_id
        assert deliver_in_batches(arrivals, rng) == expected, scenario.run_id
        assert writer.state["event_count"] == len(scenario.bodies)
        assert duplicates.count(True) == len(scenario.bodies)
        first_seen: dict[str, Report] = {}
        for item, duplicate in zip(arrivals, duplicates, strict=True):
            assert duplicate == (item.dedup_key in first_seen)
            first_seen.setdefault(item.dedup_key, item)


@pytest.mark.parametrize("seed", SEEDS)
def test_generated_runs_keep_the_merge_invariants(seed):
    for scenario in generate_runs(seed, RUNS_PER_SEED, START):
        reports = scenario_reports(scenario)
        run = fold_all(reports)
        statuses = {item.status for item in reports}
        times = [item.event_time for item in reports]
        assert run["event_count"] == len(unique(reports))
        assert (run["started_at"], run["last_seen_at"]) == (min(times), max(times))
        if statuses & set(REAL_STATUSES):
            assert run["outcome"] in ("SUCCESS", "FAILED", "ABORTED")
        elif "unknown" in statuses:
            assert run["outcome"] == "UNKNOWN"
        else:
            assert (run["outcome"], run["finished_at"]) == ("IN_PROGRESS", None)


PING_KEYS = {*MINIMAL_PING_KEYS, "timestamp"}


def _blanks_a_known_field(item: Report) -> bool:
    host_report = not set(item.raw) <= PING_KEYS
    return host_report and any(
        item.raw.get(name) == "" or name not in item.raw for name in BLANKABLE_FIELDS
    )


def _features(scenario: Scenario) -> set[str]:
    """Which of the hard cases for the merge one generated run contains."""
    reports = sorted(scenario_reports(scenario), key=lambda item: item.order_key)
    statuses = [item.status for item in reports]
    real = [n for n, status in enumerate(statuses) if status in REAL_STATUSES]
    unknown = [n for n, status in enumerate(statuses) if status == "unknown"]
    terminal = sorted(real + unknown)
    found = set()
    for before, after in itertools.pairwise(reports):
        if before.event_time == after.event_time and before.status != after.status:
            found.add("tie with different statuses")
        statuses_at_tie = {before.status, after.status}
        if before.event_time == after.event_time and statuses_at_tie <= set(REAL_STATUSES):
            found.add("tie between real terminals")
    if terminal and terminal[0] < len(reports) - 1 and not reports[-1].terminal:
        found.add("progress after terminal")
    if real and unknown and unknown[0] < real[-1]:
        found.add("unknown before real")
    if real and unknown and unknown[-1] > real[0]:
        found.add("unknown after real")
    if len({statuses[n] for n in real}) > 1:
        found.add("force correction")
    if any(set(item.raw) <= PING_KEYS for item in reports):
        found.add("minimal ping")
    for column in ("os_version", "cores", "ram_mb", "disk_gb", "method", "cpu_model"):
        if len({item.values.get(column) for item in reports} - {None}) > 1:
            found.add("later metadata differs")
    if any(_blanks_a_known_field(item) for item in reports[1:]):
        found.add("blank after known")
    if any(item.status == "failed" and item.values.get("exit_code") == 130 for item in reports):
        found.add("failed with 130")
    if any(item.values.get("exit_code_inferred") for item in reports):
        found.add("exit code inferred")
    if any(item.status_raw in ("done", "sucess") for item in reports):
        found.add("old success spelling")
    return found


def test_generated_runs_cover_every_case_the_merge_must_order():
    scenarios = [s for seed in SEEDS for s in generate_runs(seed, RUNS_PER_SEED, START)]
    assert len(scenarios) >= 200
    assert all(2 <= len(s.bodies) <= 9 for s in scenarios)
    covered: dict[str, int] = {}
    for scenario in scenarios:
        for feature in _features(scenario):
            covered[feature] = covered.get(feature, 0) + 1
    wanted = {
        "tie with different statuses",
        "tie between real terminals",
        "progress after terminal",
        "unknown before real",
        "unknown after real",
        "force correction",
        "minimal ping",
        "later metadata differs",
        "blank after known",
        "failed with 130",
        "exit code inferred",
        "old success spelling",
    }
    assert {feature for feature in wanted if covered.get(feature, 0) >= 3} == wanted, covered


# ------------------------------------------------------------------ explicit rules


def at(seconds: int) -> str:
    return (START + timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%SZ")


# Host events without the result and hardware members: each rule adds what it needs.
HOST = host_event(
    RUN, "installing", nsapp="docker", metadata=CONTAINER_METADATA + PLATFORM_METADATA
)


def event(status: str, seconds: int, **fields: object) -> Body:
    return {**HOST, "status": status, "timestamp": at(seconds), **fields}


def ping(status: str, seconds: int) -> Body:
    return dict(container_ping(RUN, nsapp="docker", status=status, timestamp=at(seconds)))


def failure(seconds: int, code: int = 100, **fields: object) -> Body:
    return event(
        "failed",
        seconds,
        exit_code=code,
        error=f"exit_code={code} | APT failed | at line 42: apt-get install docker",
        error_category="dependency",
        failed_command="apt-get install docker",
        failed_line=42,
        install_duration=120,
        **fields,
    )


def merged_in_every_order(bodies: Sequence[Body]) -> RunRecord:
    """The run after each arrival order of ``bodies``; all orders must agree."""
    results = [
        deliver_one_by_one(received_in_arrival_order(order))
        for order in arrival_orders(bodies, random.Random(7))
    ]
    for result in results[1:]:
        assert result == results[0]
    assert results[0] is not None
    return results[0]


def test_progress_never_replaces_a_terminal_status():
    run = merged_in_every_order(
        [
            event("installing", 0),
            event("success", 60, exit_code=0, install_duration=60),
            ping("configuring", 90),
            event("validation", 120),
        ]
    )
    assert (run["status"], run["outcome"]) == ("success", "SUCCESS")
    assert run["finished_at"] == START + timedelta(seconds=60)
    assert run["last_seen_at"] == START + timedelta(seconds=120)
    assert run["event_count"] == 4


@pytest.mark.parametrize("unknown_at", [30, 90], ids=["unknown-before", "unknown-after"])
def test_real_terminal_beats_unknown_whatever_the_order(unknown_at):
    run = merged_in_every_order(
        [event("installing", 0), failure(60), event("unknown", unknown_at, exit_code="")]
    )
    assert (run["status"], run["outcome"], run["exit_code"]) == ("failed", "FAILED", 100)
    assert run["finished_at"] == START + timedelta(seconds=60)
    assert run["error_category"] == "dependency"


def test_unknown_alone_is_an_unknown_outcome():
    run = merged_in_every_order([event("installing", 0), event("unknown", 60)])
    assert (run["status"], run["outcome"]) == ("unknown", "UNKNOWN")


@pytest.mark.parametrize(
    ("first", "second", "outcome"),
    [
        (failure(60), event("success", 120, exit_code=0), "SUCCESS"),
        (event("success", 60, exit_code=0), failure(120), "FAILED"),
        (event("aborted", 60, exit_code=130), event("success", 120, exit_code=0), "SUCCESS"),
        (event("success", 60, exit_code=0), event("aborted", 120, exit_code=130), "ABORTED"),
        (failure(60, code=1), failure(120, code=127), "FAILED"),
    ],
    ids=["failed-then-success", "success-then-failed", "aborted-then-success",
         "success-then-aborted", "failed-then-failed"],
)  # fmt: skip
def test_later_terminal_corrects_the_earlier_one_whatever_the_arrival_order(first, second, outcome):
    run = merged_in_every_order([event("installing", 0), first, second])
    assert run["outcome"] == outcome
    assert run["status"] == second["status"]
    assert run["exit_code"] == second["exit_code"]
    assert run["finished_at"] == START + timedelta(seconds=120)


@pytest.mark.parametrize(
    ("statuses", "winner"),
    [
        (("success", "failed"), "failed"),
        (("success", "aborted"), "aborted"),
        (("failed", "aborted"), "aborted"),
        (("unknown", "success"), "success"),
        (("unknown", "failed"), "failed"),
        (("configuring", "success"), "success"),
        (("installing", "validation"), "validation"),
        (("validation", "configuring"), "configuring"),
    ],
)
def test_equal_event_time_is_decided_by_the_fixed_status_priority(statuses, winner):
    assert max(statuses, key=STATUS_PRIORITY.__getitem__) == winner
    codes = {"success": 0, "failed": 100, "aborted": 130, "unknown": ""}
    bodies = [event("installing", 0)] + [
        event(status, 60, **({"exit_code": codes[status]} if status in codes else {}))
        for status in statuses
    ]
    run = merged_in_every_order(bodies)
    assert run["status"] == winner
    assert run["last_seen_at"] == START + timedelta(seconds=60)


def test_same_status_at_the_same_time_is_ordered_by_content_not_arrival():
    tied = [event("configuring", 60, core_count=4), event("configuring", 60, core_count=1)]
    run = merged_in_every_order([event("installing", 0), *tied])
    last = max(tied, key=lambda body: report(body).order_key)
    assert run["cores"] == last["core_count"]
    assert run["event_count"] == 3


def test_empty_values_never_overwrite_known_ones():
    blanked = event("configuring", 60, os_type="", os_version=None, core_count="", disk_size="")
    del blanked["pve_version"]
    run = merged_in_every_order(
        [
            event("installing", 0),
            blanked,
            ping("configuring", 90),
            event("success", 120, exit_code=0, method="", arch=""),
        ]
    )
    assert {
        key: run[key] for key in ("os_type", "os_version", "cores", "disk_gb", "pve_version")
    } == {"os_type": "debian", "os_version": "12", "cores": 2, "disk_gb": 8, "pve_version": "8.4.1"}
    assert (run["method"], run["arch"], run["ct_type"], run["ram_mb"]) == (
        "default",
        "amd64",
        1,
        2048,
    )


def test_later_non_empty_metadata_wins_by_event_time_not_arrival():
    run = merged_in_every_order(
        [
            event("installing", 0, os_version="12", core_count=2),
            event("configuring", 30, os_version="13"),
            event("validation", 20, core_count=4),
        ]
    )
    assert (run["os_version"], run["cores"]) == ("13", 2)


def test_success_after_failure_clears_the_error_fields():
    run = merged_in_every_order(
        [event("installing", 0), failure(60), event("success", 120, exit_code=0)]
    )
    assert run["outcome"] == "SUCCESS"
    assert run["exit_code"] == 0
    assert run["exit_code_inferred"] is False
    assert {
        key: run[key] for key in ("error", "error_category", "failed_command", "failed_line")
    } == dict.fromkeys(("error", "error_category", "failed_command", "failed_line"))


def test_success_after_inferred_failure_clears_the_inferred_flag():
    inferred = event("failed", 60, error=COMMAND_NOT_FOUND_TEXT)
    failed = merged_in_every_order([event("installing", 0), inferred])
    assert (failed["exit_code"], failed["exit_code_inferred"]) == (127, True)
    run = merged_in_every_order([event("installing", 0), inferred, event("done", 120)])
    assert (run["status"], run["outcome"]) == ("done", "SUCCESS")
    assert (run["exit_code"], run["exit_code_inferred"], run["error"]) == (None, False, None)


@pytest.mark.parametrize("code", [129, 130, 143])
def test_failed_with_an_abort_exit_code_is_aborted(code):
    run = merged_in_every_order([event("installing", 0), failure(60, code=code)])
    assert (run["status"], run["outcome"], run["exit_code"]) == ("failed", "ABORTED", code)


def test_failed_with_another_exit_code_stays_failed():
    run = merged_in_every_order([event("installing", 0), failure(60, code=1)])
    assert (run["status"], run["outcome"]) == ("failed", "FAILED")


def test_retried_terminal_is_stored_once():
    terminal = report(failure(60), RECEIVED)
    retries = [report(failure(60), RECEIVED + timedelta(seconds=n)) for n in (5, 10, 15)]
    writer = EmulatedWriter()
    writer.deliver([report(event("installing", 0))])
    assert writer.deliver([terminal]) == [False]
    once = writer.state
    assert once is not None
    assert [writer.deliver([retry])[0] for retry in retries] == [True, True, True]
    assert writer.state == once
    assert writer.state["event_count"] == 2
    # Copies inside one batch: the first is stored, the rest are duplicates.
    assert EmulatedWriter().deliver([terminal, *retries]) == [False, True, True, True]


def test_generator_is_deterministic_per_seed():
    first = generate_run(random.Random(5), START)
    again = generate_run(random.Random(5), START)
    assert first == again
    assert generate_run(random.Random(6), START) != first


# ------------------------------------------------------------------ end to end

E2E_RUNS = 30
E2E_SEED = 424242
UNFINISHED_AFTER = timedelta(hours=3)

# GraphQL field -> run state column (every scalar field of Run).
RUN_FIELDS = {
    "id": "id",
    "executionId": "execution_id",
    "sessionId": "session_id",
    "kind": "kind",
    "app": "app",
    "type": "type",
    "status": "status",
    "outcome": "outcome",
    "exitCode": "exit_code",
    "exitCodeInferred": "exit_code_inferred",
    "errorCategory": "error_category",
    "error": "error",
    "failedCommand": "failed_command",
    "failedLine": "failed_line",
    "startedAt": "started_at",
    "lastSeenAt": "last_seen_at",
    "finishedAt": "finished_at",
    "durationSeconds": "duration_seconds",
    "ctid": "container_id",
    "ctType": "ct_type",
    "diskGb": "disk_gb",
    "cores": "cores",
    "ramMb": "ram_mb",
    "osType": "os_type",
    "osVersion": "os_version",
    "pveVersion": "pve_version",
    "method": "method",
    "cpuVendor": "cpu_vendor",
    "cpuModel": "cpu_model",
    "gpuVendor": "gpu_vendor",
    "gpuModel": "gpu_model",
    "gpuPassthrough": "gpu_passthrough",
    "ramSpeed": "ram_speed",
    "arch": "arch",
    "platform": "platform",
    "hasArm": "has_arm",
    "repoSource": "repo_source",
    "repoSlug": "repo_slug",
    "appVersion": "app_version",
    "kernelVersion": "kernel_version",
    "payloadVersion": "payload_version",
    "eventCount": "event_count",
}
TIME_FIELDS = ("startedAt", "lastSeenAt", "finishedAt")

RUNS_QUERY = (
    "{ runs(first: 500) { totalCount edges { node { "
    + " ".join(RUN_FIELDS)
    + " events { status occurredAt clientTimestamp source } } } } }"
)


def e2e_scenarios(now: datetime) -> list[Scenario]:
    """Most runs two days old; every fourth one recent (still IN_PROGRESS if open)."""
    rng = random.Random(E2E_SEED)
    # Whole seconds, so the generator's ties survive every timestamp spelling.
    base = now.replace(microsecond=0)
    old_start = base - timedelta(days=2)
    recent_start = base - timedelta(minutes=40)
    return [
        generate_run(rng, (recent_start if n % 4 == 0 else old_start) + timedelta(seconds=37 * n))
        for n in range(E2E_RUNS)
    ]


def expected_node(scenario: Scenario, now: datetime) -> dict[str, Any]:
    reports = [report(body, now) for body in scenario.bodies]
    run: Mapping[str, Any] = fold_all(reports)  # read by column name
    node = {name: run[column] for name, column in RUN_FIELDS.items()}
    if node["outcome"] == "IN_PROGRESS" and run["last_seen_at"] < now - UNFINISHED_AFTER:
        node["outcome"] = "UNFINISHED"
    node["events"] = sorted(
        (item.status_raw, item.event_time, item.client_time, item.source) for item in reports
    )
    return node


def parse_time(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)


def actual_node(node: dict[str, Any]) -> dict[str, Any]:
    """GraphQL values with times parsed, events as a sorted list of tuples."""
    result = dict(node)
    for name in TIME_FIELDS:
        result[name] = parse_time(result[name])
    result["events"] = sorted(
        (
            item["status"],
            parse_time(item["occurredAt"]),
            parse_time(item["clientTimestamp"]),
            item["source"],
        )
        for item in node["events"]
    )  # fmt: skip
    return result


async def post(client, body: Body) -> dict[str, Any]:
    response = await client.post("/telemetry", data=orjson.dumps(body))
    answer: dict[str, Any] = await response.json()
    assert response.status == 202, answer
    return answer


async def send_sequentially(client, bodies: Sequence[Body]) -> list[dict[str, Any]]:
    return [await post(client, body) for body in bodies]


async def send_concurrently(client, bodies: Sequence[Body]) -> list[dict[str, Any]]:
    return list(await asyncio.gather(*(post(client, body) for body in bodies)))


async def send_in_concurrent_chunks(
    client, bodies: Sequence[Body], rng: random.Random
) -> list[dict[str, Any]]:
    """Bursts of 1–40 concurrent POSTs, one burst after another."""
    answers: list[dict[str, Any]] = []
    index = 0
    while index < len(bodies):
        size = rng.randint(1, 40)
        answers += await send_concurrently(client, bodies[index : index + size])
        index += size
    return answers


async def read_runs(client) -> tuple[int, dict[str, dict[str, Any]]]:
    response = await client.post("/graphql", json={"query": RUNS_QUERY})
    payload = await response.json()
    assert response.status == 200, payload
    assert "errors" not in payload, payload["errors"]
    runs = payload["data"]["runs"]
    return runs["totalCount"], {edge["node"]["id"]: edge["node"] for edge in runs["edges"]}


async def assert_runs_are_the_merge_of(
    client, scenarios: Sequence[Scenario], now: datetime
) -> None:
    """The stored runs, field by field, are ``fold_all`` of each scenario's reports."""
    total, nodes = await read_runs(client)
    expected = {s.run_id: expected_node(s, now) for s in scenarios}
    assert total == len(expected)
    assert set(nodes) == set(expected)
    actual = {run_id: actual_node(node) for run_id, node in nodes.items()}
    mismatches = {
        run_id: {
            name: {"stored": actual[run_id][name], "expected": value}
            for name, value in expected[run_id].items()
            if actual[run_id][name] != value
        }
        for run_id in expected
    }
    assert {run_id: diff for run_id, diff in mismatches.items() if diff} == {}


DELIVERIES = {
    "shuffle-1": ("sequential", 1, 1),
    "shuffle-2": ("sequential", 2, 1),
    "shuffle-3": ("sequential", 3, 1),
    "each-twice": ("sequential", 4, 2),
    "concurrent": ("concurrent", 5, 1),
    "concurrent-bursts": ("bursts", 6, 1),
    "concurrent-twice": ("concurrent", 7, 2),
}


@pytest.mark.parametrize("delivery", list(DELIVERIES))
async def test_stored_runs_match_the_merge_of_their_reports_for_any_arrival(client, delivery):
    mode, seed, copies = DELIVERIES[delivery]
    now = datetime.now(UTC)
    scenarios = e2e_scenarios(now)
    sent = [(s.run_id, body) for s in scenarios for body in s.bodies for _ in range(copies)]
    rng = random.Random(seed)
    rng.shuffle(sent)
    bodies = [body for _, body in sent]

    if mode == "sequential":
        answers = await send_sequentially(client, bodies)
    elif mode == "concurrent":
        answers = await send_concurrently(client, bodies)
    else:
        answers = await send_in_concurrent_chunks(client, bodies, rng)

    assert [answer["run_id"] for answer in answers] == [run_id for run_id, _ in sent]
    assert {answer["status"] for answer in answers} == {"stored"}
    assert_duplicate_flags(sent, answers, sequential=mode == "sequential")

    await assert_runs_are_the_merge_of(client, scenarios, now)


def assert_duplicate_flags(
    sent: Sequence[tuple[str, Body]], answers: Sequence[dict[str, Any]], *, sequential: bool
) -> None:
    """Every distinct report is stored once; each further copy is answered duplicate."""
    keys = [report(body).dedup_key for _, body in sent]
    flags: dict[str, list[bool]] = {}
    for key, answer in zip(keys, answers, strict=True):
        flags.setdefault(key, []).append(answer["duplicate"])
    for copies in flags.values():
        assert copies.count(False) == 1, copies
        if sequential:
            assert copies[0] is False, copies


@pytest.fixture
async def second_replica(aiohttp_client, settings):
    """Another app instance on the same store (docs/semantics.md, "Merging": stateless replicas)."""
    return await aiohttp_client(create_app(settings))


async def test_reports_of_one_run_split_between_two_replicas_merge_like_one_server(
    client, second_replica
):
    now = datetime.now(UTC)
    scenarios = e2e_scenarios(now)
    rng = random.Random(8)
    for scenario in scenarios:
        # All of a run's reports at once, alternately to each replica, so both
        # replicas commit reports of the same run at the same time.
        bodies = list(scenario.bodies)
        rng.shuffle(bodies)
        replicas = (client, second_replica)
        answers = await asyncio.gather(
            *(post(replicas[n % 2], body) for n, body in enumerate(bodies))
        )
        assert {answer["duplicate"] for answer in answers} == {False}

    await assert_runs_are_the_merge_of(client, scenarios, now)


async def test_same_report_sent_to_two_replicas_at_once_is_stored_once(client, second_replica):
    now = datetime.now(UTC)
    scenarios = e2e_scenarios(now)[:10]
    for scenario in scenarios:
        bodies = list(scenario.bodies)
        for body in bodies:
            first, second = await asyncio.gather(
                *(replica.post("/telemetry", data=orjson.dumps(body))
                  for replica in (client, second_replica))
            )  # fmt: skip
            texts = [await first.text(), await second.text()]
            assert (first.status, second.status) == (202, 202), texts
            duplicates = sorted(orjson.loads(text)["duplicate"] for text in texts)
            assert duplicates == [False, True]

    await assert_runs_are_the_merge_of(client, scenarios, now)
