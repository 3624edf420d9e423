"""Every client generation's full event sequence, end to end, read back field by field.

Each scenario is a table: the POSTs exactly as a bash client sends them (raw bytes), the
answer each one must get, and every field of every run they must produce. A replay goes
through the real server on a real port (SQLite and PostgreSQL), then each run is read
back with GraphQL ``run(id)`` and compared as a whole; events are checked for status,
source and times (receive window, client timestamp, clamping), and startedAt /
lastSeenAt / finishedAt against the events' times.

The tables are in ``tests/utils/client_scenarios.py`` (expected runs are built with
``tests/utils/expected_runs.py``); this module replays them and checks the result.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from tests.utils.client_payloads import host_event, render, upload_install, upload_status
from tests.utils.client_scenarios import (
    ALL_SCENARIOS,
    Post,
    RunRef,
    Scenario,
    Unnamed,
    aborted_installs,
    addon_run,
    base_time,
    captured_traffic,
    event_times,
    failed_lxc_install_with_trace,
    old_client_broken_json,
    old_client_done,
    old_client_failures,
    old_client_unit_core_count,
    retry_with_new_execution_id,
    sec,
    seed_api,
    successful_lxc_install,
    update_by_exit_code_only,
    vm_install,
)
from tests.utils.expected_runs import RUN_FIELDS, TIME_FIELDS, ExpectedRun
from tests.utils.fixtures import captured_requests

# --- replay and check ------------------------------------------------------------------

RUN_QUERY = (
    "query Run($id: ID!) { run(id: $id) { "
    + " ".join(RUN_FIELDS)
    + " events { status source receivedAt occurredAt clientTimestamp } } }"
)
JSON_HEADERS = {"Content-Type": "application/json"}
LEGACY_ANSWERS: dict[str, tuple[int, dict[str, object]]] = {
    "/upload": (201, {"message": "Data saved successfully"}),
    "/upload/updatestatus": (200, {"message": "Record updated successfully"}),
}
RECEIPT_STATUS = {"/telemetry": 202, "/install": 201, "/update": 201}


@dataclass
class Sent:
    post: Post
    before: datetime
    after: datetime
    run_id: str


@dataclass
class Replay:
    run_ids: dict[RunRef, str] = field(default_factory=dict)
    sent: list[Sent] = field(default_factory=list)


async def replay(client, scenario: Scenario, into: Replay) -> None:
    """POST each body in order, checking every answer (status and exact JSON body)."""
    for step in scenario.posts:
        before = datetime.now(UTC)
        response = await client.post(step.path, data=step.body, headers=JSON_HEADERS)
        text = await response.text()
        after = datetime.now(UTC)
        assert response.content_type == "application/json", (step.label, text)
        answer = json.loads(text)
        if step.path in LEGACY_ANSWERS:
            assert (response.status, answer) == LEGACY_ANSWERS[step.path], (step.label, text)
            run_id = into.run_ids.setdefault(step.run, str(step.run))
        else:
            assert response.status == RECEIPT_STATUS[step.path], (step.label, text)
            if isinstance(step.run, Unnamed):
                assert answer["run_id"].startswith("update:"), answer
                assert answer["run_id"] not in into.run_ids.values(), "a fresh run per report"
                into.run_ids[step.run] = answer["run_id"]
            run_id = into.run_ids.setdefault(step.run, str(step.run))
            expected = {"status": "stored", "run_id": run_id, "duplicate": step.duplicate}
            assert answer == expected, step.label
        into.sent.append(Sent(step, before, after, run_id))


async def fetch_run(client, run_id: str) -> dict[str, Any] | None:
    response = await client.post("/graphql", json={"query": RUN_QUERY, "variables": {"id": run_id}})
    body = await response.json()
    assert response.status == 200 and "errors" not in body, body
    run: dict[str, Any] | None = body["data"]["run"]
    return run


async def run_count(client) -> int:
    response = await client.post("/graphql", json={"query": "{ runs(first: 0) { totalCount } }"})
    body = await response.json()
    assert "errors" not in body, body
    return int(body["data"]["runs"]["totalCount"])


def moment(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)


def _expected_event_time(sent: Sent) -> datetime:
    stamp = sent.post.timestamp
    return stamp if stamp is not None and stamp < sent.before else sent.before


def check_events(events: list[dict[str, Any]], sent: list[Sent]) -> list[datetime]:
    """Events match the stored posts in event-time order; returns their event times."""
    stored = sorted((s for s in sent if not s.post.duplicate), key=_expected_event_time)
    assert [(e["status"], e["source"]) for e in events] == [
        (s.post.status, s.post.path.removeprefix("/")) for s in stored
    ]
    times = []
    for event, step in zip(events, stored, strict=True):
        received, occurred = moment(event["receivedAt"]), moment(event["occurredAt"])
        assert received is not None and occurred is not None
        assert step.before <= received <= step.after, (step.post.label, received)
        sent_stamp = step.post.timestamp
        assert moment(event["clientTimestamp"]) == sent_stamp, step.post.label
        if sent_stamp is None or sent_stamp > received:
            assert occurred == received, (step.post.label, "event time is the receipt")
        else:
            assert occurred == sent_stamp, (step.post.label, "event time is the client's")
        times.append(occurred)
    return times


async def check_run(client, run_id: str, expected: ExpectedRun, sent: list[Sent]) -> dict[str, Any]:
    run = await fetch_run(client, run_id)
    assert run is not None, f"run {run_id} not found"
    events = run.pop("events")
    times = {name: moment(run.pop(name)) for name in TIME_FIELDS}
    assert run == {"id": run_id, **expected.fields}
    mine = [s for s in sent if s.run_id == run_id]
    occurred = check_events(events, mine)
    labels = [s.post.label for s in sorted(mine, key=_expected_event_time) if not s.post.duplicate]
    finished = (
        None if expected.finished_by is None else occurred[labels.index(expected.finished_by)]
    )
    assert times == {
        "startedAt": min(occurred),
        "lastSeenAt": max(occurred),
        "finishedAt": finished,
    }, run_id
    return {**run, "events": events, **times}


async def check_scenarios(
    client, scenarios: Iterable[Scenario], done: Replay
) -> dict[RunRef, dict[str, Any]]:
    """Every expected run field by field, and no run beyond them."""
    runs: dict[RunRef, dict[str, Any]] = {}
    expected_count = 0
    for scenario in scenarios:
        for ref, expected in scenario.runs.items():
            runs[ref] = await check_run(client, done.run_ids[ref], expected, done.sent)
            expected_count += 1
    assert await run_count(client) == expected_count
    return runs


async def replay_and_check(client, scenario: Scenario) -> dict[RunRef, dict[str, Any]]:
    done = Replay()
    await replay(client, scenario, done)
    return await check_scenarios(client, [scenario], done)


# --- tests: current client -------------------------------------------------------------


async def test_successful_lxc_install_merges_progress_pings_and_success_into_one_run(client):
    scenario = successful_lxc_install(base_time())
    runs = await replay_and_check(client, scenario)
    (run,) = runs.values()
    # Minimal pings never blank the first event's metadata; the repeat is not stored.
    assert run["cpuModel"] == "AMD EPYC" and run["diskGb"] == 8
    assert [e["status"] for e in run["events"]].count("configuring") == 4


async def test_failed_lxc_install_keeps_scrubbed_trace_and_client_category(client):
    runs = await replay_and_check(client, failed_lxc_install_with_trace(base_time()))
    (run,) = runs.values()
    assert "192.168.1.23" not in run["error"]
    assert "alice" not in run["error"]


async def test_ctrl_c_and_sigterm_are_aborted_with_raw_status_and_exit_code_kept(client):
    await replay_and_check(client, aborted_installs(base_time()))


async def test_retry_with_new_execution_id_is_a_second_run_of_the_same_session(client):
    await replay_and_check(client, retry_with_new_execution_id(base_time()))


async def test_vm_install_is_a_successful_vm_run(client):
    await replay_and_check(client, vm_install(base_time()))


async def test_addon_single_terminal_event_is_a_complete_run(client):
    runs = await replay_and_check(client, addon_run(base_time()))
    (run,) = runs.values()
    assert run["startedAt"] == run["lastSeenAt"] == run["finishedAt"]


async def test_occurredaccept_epoch_and_iso_and_clamp_the_future(client):
    base = base_time()
    scenario = event_times(base)
    runs = await replay_and_check(client, scenario)
    (run,) = runs.values()
    by_status = {e["status"]: e for e in run["events"] if e["status"] != "configuring"}
    future_ping = run["events"][-1]
    assert future_ping["clientTimestamp"] is not None
    assert datetime.fromisoformat(future_ping["clientTimestamp"]) > datetime.now(UTC) + timedelta(
        hours=23
    )
    assert future_ping["occurredAt"] == future_ping["receivedAt"]
    assert moment(by_status["validation"]["occurredAt"]) == base + sec(5)  # sent as +02:00
    assert run["startedAt"] == base
    assert run["finishedAt"] == base + sec(90)
    # The clamped ping is the latest report by event time, yet never replaces the success.
    assert run["lastSeenAt"] == moment(future_ping["receivedAt"])


# --- tests: previous client ------------------------------------------------------------


async def test_old_client_done_is_success_matched_by_random_id(client):
    await replay_and_check(client, old_client_done(base_time()))


async def test_old_client_failure_text_gives_inferred_exit_code_and_category(client):
    await replay_and_check(client, old_client_failures(base_time()))


async def test_old_client_broken_json_is_accepted_with_the_readable_fields(client):
    await replay_and_check(client, old_client_broken_json(base_time()))


async def test_old_client_unit_suffixed_core_count_still_records_the_install(client):
    await replay_and_check(client, old_client_unit_core_count(base_time()))


# --- tests: the brief's API ------------------------------------------------------------


async def test_seed_install_and_update_api_make_install_and_update_runs(client):
    runs = await replay_and_check(client, seed_api(base_time()))
    anonymous = [run for ref, run in runs.items() if isinstance(ref, Unnamed)]
    assert len({run["id"] for run in anonymous}) == 2


async def test_update_with_exit_code_only_is_finished_by_that_code(client):
    await replay_and_check(client, update_by_exit_code_only(base_time()))


# --- tests: everything at once ---------------------------------------------------------


async def test_all_generations_interleaved_give_the_same_runs(client):
    """All scenarios at once (one task each, so their posts interleave and share batches)."""
    base = base_time()
    scenarios = [build(base) for build in ALL_SCENARIOS]
    done = Replay()
    await asyncio.gather(*(replay(client, scenario, done) for scenario in scenarios))
    await check_scenarios(client, scenarios, done)


# --- tests: captured real traffic ------------------------------------------------------


def test_builders_render_the_captured_bodies_exactly():
    """So builder-made scenarios are what the real clients send."""
    for request in captured_requests():
        sent = json.loads(request["body"])
        if request["path"] == "/telemetry":
            overrides = {
                key: sent[key]
                for key in ("exit_code", "error", "error_category", "install_duration")
            }
            built = host_event(sent["random_id"], sent["status"], nsapp=sent["nsapp"], **overrides)
            assert render(built) == request["body"].encode()
        elif request["path"] == "/upload":
            built = upload_install(sent["random_id"], nsapp=sent["nsapp"])
            assert list(built.items()) == list(sent.items())
        else:
            built = upload_status(sent["random_id"], sent["status"], sent["error"])
            assert list(built.items()) == list(sent.items())


async def test_captured_traffic_replays_into_the_expected_runs(client):
    await replay_and_check(client, captured_traffic(captured_requests()))
