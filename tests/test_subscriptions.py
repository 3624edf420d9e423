"""``runChanged`` over graphql-transport-ws: pushed when a report creates or changes a run.

On both stores through the in-process server, and across two server processes sharing
one PostgreSQL database (LISTEN/NOTIFY).
"""

from __future__ import annotations

import asyncio
import time
import uuid
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from sqlalchemy.engine import make_url

from live.broker import SUBSCRIBER_QUEUE_SIZE
from server import create_app
from service.keys import BROKER, DATABASE
from service.settings import Settings
from storage.reads.runs import get_run
from tests.utils.live_feed import LiveFeed, telemetry_report
from tests.utils.server_process import ServerProcess

Client = TestClient[web.Request, web.Application]
APP = "livepush"
SILENCE = 0.5  # seconds a filtered-out subscription must stay quiet


async def _post(client: Client | aiohttp.ClientSession, url: str, body: dict[str, Any]) -> str:
    async with client.post(url, json=body) as response:
        assert response.status == 202, await response.text()
        receipt = await response.json()
    return str(receipt["run_id"])


async def _subscribed(client: Client, feed: LiveFeed, run_filter: dict[str, Any] | None) -> str:
    """Subscribe and wait until the server has registered it (the protocol has no ack)."""
    broker = client.app[BROKER]
    before = broker.subscriber_count
    operation_id = await feed.subscribe(run_filter)
    deadline = time.monotonic() + 5
    while broker.subscriber_count == before:
        assert time.monotonic() < deadline, "subscription never registered"
        await asyncio.sleep(0.01)
    return operation_id


async def test_new_run_then_its_success_are_pushed_once_each(client: Client) -> None:
    run_id = str(uuid.uuid4())
    async with LiveFeed.connect(client, "/graphql") as feed:
        subscription = await _subscribed(client, feed, {"apps": [APP]})

        await _post(client, "/telemetry", telemetry_report(run_id, APP, "installing"))
        created = await feed.next_run(subscription)
        assert created["id"] == run_id
        assert created["app"] == APP
        assert created["status"] == "installing"
        assert created["outcome"] == "IN_PROGRESS"
        assert created["eventCount"] == 1
        assert created["finishedAt"] is None

        await _post(client, "/telemetry", telemetry_report(run_id, APP, "success", exit_code=0))
        finished = await feed.next_run(subscription)
        assert finished["id"] == run_id
        assert finished["outcome"] == "SUCCESS"
        assert finished["exitCode"] == 0
        assert finished["eventCount"] == 2
        assert finished["finishedAt"] is not None
        await feed.assert_silent(subscription, SILENCE)


async def test_filter_that_excludes_the_app_receives_nothing(client: Client) -> None:
    async with LiveFeed.connect(client, "/graphql") as feed:
        excluded = await _subscribed(client, feed, {"apps": ["someotherapp"]})
        everything = await _subscribed(client, feed, None)

        run_id = await _post(
            client, "/telemetry", telemetry_report(str(uuid.uuid4()), APP, "installing")
        )
        # Both subscriptions see each change at the same moment: once the unfiltered one
        # has it, the filtered one has been passed over.
        assert (await feed.next_run(everything))["id"] == run_id
        await feed.assert_silent(excluded, SILENCE)


async def test_outcome_filter_pushes_a_run_only_once_it_has_that_outcome(
    client: Client,
) -> None:
    run_id = str(uuid.uuid4())
    async with LiveFeed.connect(client, "/graphql") as feed:
        failures = await _subscribed(client, feed, {"outcomes": ["FAILED"], "apps": [APP]})
        everything = await _subscribed(client, feed, None)

        await _post(client, "/telemetry", telemetry_report(run_id, APP, "installing"))
        assert (await feed.next_run(everything))["outcome"] == "IN_PROGRESS"
        await feed.assert_silent(failures, SILENCE)

        await _post(client, "/telemetry", telemetry_report(run_id, APP, "failed", exit_code=1))
        failed = await feed.next_run(failures)
        assert (failed["id"], failed["outcome"], failed["exitCode"]) == (run_id, "FAILED", 1)


async def test_client_retry_of_a_stored_report_pushes_nothing(client: Client) -> None:
    report = telemetry_report(str(uuid.uuid4()), APP, "installing")
    async with LiveFeed.connect(client, "/graphql") as feed:
        subscription = await _subscribed(client, feed, None)
        await _post(client, "/telemetry", report)
        assert (await feed.next_run(subscription))["eventCount"] == 1

        await _post(client, "/telemetry", report)  # acknowledged as a duplicate
        await feed.assert_silent(subscription, SILENCE)


async def test_invalid_filter_is_refused_with_an_error_message(client: Client) -> None:
    async with LiveFeed.connect(client, "/graphql") as feed:
        subscription = await feed.subscribe(
            {"since": "2025-02-01T00:00:00Z", "until": "2025-01-01T00:00:00Z"}
        )
        message = await feed.message(subscription)
        assert message["type"] == "error", message
        assert "since must be before until" in message["payload"][0]["message"]


async def test_filter_times_without_utc_offset_are_refused(client: Client) -> None:
    async with LiveFeed.connect(client, "/graphql") as feed:
        subscription = await feed.subscribe({"since": "2025-01-01T00:00:00"})
        message = await feed.message(subscription)
        assert message["type"] == "error", message
        assert "filter.since" in message["payload"][0]["message"]


async def test_subscriber_that_falls_behind_is_ended_with_an_error(client: Client) -> None:
    async with LiveFeed.connect(client, "/graphql") as feed:
        subscription = await _subscribed(client, feed, None)
        run_id = await _post(
            client, "/telemetry", telemetry_report(str(uuid.uuid4()), APP, "installing")
        )
        assert (await feed.next_run(subscription))["id"] == run_id

        # A burst larger than the bound, published before the subscriber can read any.
        row = await get_run(client.app[DATABASE].reader, run_id=run_id)
        assert row is not None
        client.app[BROKER].publish([row] * (SUBSCRIBER_QUEUE_SIZE + 1))

        message = await feed.message(subscription)
        assert message["type"] == "next", message
        assert "errors" in message["payload"], message
        assert (
            f"more than {SUBSCRIBER_QUEUE_SIZE} changed runs"
            in (message["payload"]["errors"][0]["message"])
        )
        assert (await feed.message(subscription))["type"] == "complete"


# --- PostgreSQL: the listener and several processes -----------------------------------

LISTENER_NAME = "installstats-live"  # application_name of the LISTEN connection


def _require_postgres(store: str) -> None:
    if store != "postgres":
        pytest.skip("LISTEN/NOTIFY across processes exists only on PostgreSQL")


async def _listener_pids(database_url: str) -> list[int]:
    url = make_url(database_url)
    conn = await asyncpg.connect(
        host=url.host, port=url.port, user=url.username, database=url.database
    )
    try:
        rows = await conn.fetch(
            "SELECT pid FROM pg_stat_activity WHERE datname = $1 AND application_name = $2",
            url.database,
            LISTENER_NAME,
        )
        return [row["pid"] for row in rows]
    finally:
        await conn.close()


async def _terminate(pids: list[int], database_url: str) -> None:
    url = make_url(database_url)
    conn = await asyncpg.connect(
        host=url.host, port=url.port, user=url.username, database=url.database
    )
    try:
        await conn.execute("SELECT pg_terminate_backend(pid) FROM unnest($1::int[]) AS pid", pids)
    finally:
        await conn.close()


async def test_listener_reconnects_after_its_connection_is_killed(
    store: str, client: Client, database_url: str
) -> None:
    _require_postgres(store)
    killed = await _listener_pids(database_url)
    assert len(killed) == 1, killed
    await _terminate(killed, database_url)

    deadline = time.monotonic() + 10
    while not (pids := await _listener_pids(database_url)) or pids == killed:
        assert time.monotonic() < deadline, "listener did not reconnect within 10 s"
        await asyncio.sleep(0.1)

    async with LiveFeed.connect(client, "/graphql") as feed:
        subscription = await _subscribed(client, feed, None)
        run_id = await _post(
            client, "/telemetry", telemetry_report(str(uuid.uuid4()), APP, "installing")
        )
        assert (await feed.next_run(subscription))["id"] == run_id


async def test_shutdown_closes_the_listener_connection(
    store: str, aiohttp_client: Any, database_url: str, settings: Settings
) -> None:
    _require_postgres(store)
    client = await aiohttp_client(create_app(settings))
    assert len(await _listener_pids(database_url)) == 1
    await client.close()
    assert await _listener_pids(database_url) == []


async def _await_pipeline(
    session: aiohttp.ClientSession, origin: ServerProcess, feed: LiveFeed, subscription: str
) -> set[str]:
    """Post probe reports of APP to ``origin`` until one is pushed: the subscription is
    live. Returns the probes' run ids (a late one may still arrive after that).

    The protocol does not acknowledge a subscribe, and another process cannot be asked
    whether it has registered it yet."""
    probes: set[str] = set()
    deadline = time.monotonic() + 10
    while True:
        probe = str(uuid.uuid4())
        probes.add(probe)
        await _post(
            session, f"{origin.base_url}/telemetry", telemetry_report(probe, APP, "installing")
        )
        try:
            await feed.next_run(subscription, within=0.5)
            return probes
        except TimeoutError:
            assert time.monotonic() < deadline, "no probe was pushed within 10 s"


async def _next_run_except(
    feed: LiveFeed, subscription: str, skipped: set[str], within: float = 10
) -> dict[str, Any]:
    while (run := await feed.next_run(subscription, within))["id"] in skipped:
        pass
    return run


async def test_report_posted_to_one_process_is_pushed_by_another(
    store: str, database_url: str, tmp_path: Path
) -> None:
    _require_postgres(store)
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    origin = ServerProcess(database_url, tmp_path / "a")
    pusher = ServerProcess(database_url, tmp_path / "b")
    try:
        origin.start()
        await origin.wait_ready()  # migrated; the second process then finds nothing to do
        pusher.start()
        await pusher.wait_ready()
        async with (
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session,
            LiveFeed.connect(session, f"{pusher.base_url}/graphql") as feed,
        ):
            subscription = await feed.subscribe({"apps": [APP]})
            probes = await _await_pipeline(session, origin, feed, subscription)

            run_id = str(uuid.uuid4())
            url = f"{origin.base_url}/telemetry"
            await _post(session, url, telemetry_report(run_id, APP, "installing"))
            created = await _next_run_except(feed, subscription, probes)
            assert (created["id"], created["outcome"]) == (run_id, "IN_PROGRESS")

            await _post(session, url, telemetry_report(run_id, APP, "success", exit_code=0))
            finished = await _next_run_except(feed, subscription, probes)
            assert (finished["id"], finished["outcome"]) == (run_id, "SUCCESS")
            assert finished["eventCount"] == 2
            await feed.assert_silent(subscription, SILENCE)
    finally:
        origin.stop()
        pusher.stop()


async def test_sigterm_closes_open_subscriptions_and_exits_promptly(
    database_url: str, tmp_path: Path
) -> None:
    server = ServerProcess(database_url, tmp_path)
    try:
        server.start()
        await server.wait_ready()
        async with (
            aiohttp.ClientSession() as session,
            LiveFeed.connect(session, f"{server.base_url}/graphql") as feed,
        ):
            subscription = await feed.subscribe(None)
            await _await_pipeline(session, server, feed, subscription)
            server.terminate()
            assert await feed.wait_closed(within=10) == aiohttp.WSCloseCode.GOING_AWAY
            assert await server.wait_exit(within=10) == 0, server.log_tail()
    finally:
        server.stop()
