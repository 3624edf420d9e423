"""The broker's bounds and endings, and the NOTIFY payload chunking."""

from __future__ import annotations

import asyncio
import itertools
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest

from ingest.merge import fold
from ingest.report import build_report
from ingest.run_record import RunRecord
from live.broker import RunBroker, SubscriberFellBehind
from storage.analytics.filters import RunFilter
from storage.model.dimensions import Dimension
from storage.writer.plan import NOTIFY_PAYLOAD_BYTES, notify_payloads

BOUND = 3


def _state(number: int, app: str = "docker") -> RunRecord:
    """A finished run of ``app``, merged from its one report."""
    body = {"random_id": f"run-{number}", "nsapp": app, "status": "success"}
    return fold(None, build_report("telemetry", body, datetime.now(UTC)))


async def _registered(broker: RunBroker, run_filter: RunFilter) -> AsyncIterator[RunRecord]:
    """A subscription already waiting for its first run (registration happens then)."""
    stream = broker.subscribe(run_filter)
    first = asyncio.ensure_future(anext(stream))
    before = broker.subscriber_count
    while broker.subscriber_count == before:  # noqa: ASYNC110 (the broker has no event for it)
        await asyncio.sleep(0)

    async def rest() -> AsyncIterator[RunRecord]:
        yield await first
        async for state in stream:
            yield state

    return rest()


def _broker() -> RunBroker:
    return RunBroker(unfinished_after=timedelta(hours=3), queue_size=BOUND)


async def test_subscriber_receives_matching_runs_in_publish_order() -> None:
    broker = _broker()
    stream = await _registered(broker, RunFilter(values={Dimension.APP: frozenset({"docker"})}))
    broker.publish([_state(1), _state(2, app="jellyfin"), _state(3)])
    assert [(await anext(stream))["id"] for _ in range(2)] == ["run-1", "run-3"]


async def test_subscriber_that_falls_behind_is_dropped_and_told_why() -> None:
    broker = _broker()
    slow = await _registered(broker, RunFilter())
    fast = await _registered(broker, RunFilter())
    # The slow one takes run-0 into its pending read, then lets BOUND runs wait; one more
    # than that drops it.
    for number in range(BOUND + 2):
        broker.publish([_state(number)])
        assert (await anext(fast))["id"] == f"run-{number}"
    assert broker.subscriber_count == 1  # only the fast one is left
    assert (await anext(slow))["id"] == "run-0"
    with pytest.raises(SubscriberFellBehind, match=f"more than {BOUND} changed runs"):
        await anext(slow)  # the runs that waited were discarded: the error comes next


async def test_close_delivers_what_is_queued_then_ends_every_subscription() -> None:
    broker = _broker()
    stream = await _registered(broker, RunFilter())
    broker.publish([_state(1), _state(2)])
    broker.close()
    assert [state["id"] async for state in stream] == ["run-1", "run-2"]
    assert [state async for state in broker.subscribe(RunFilter())] == []  # closed for new


async def test_leaving_the_stream_unregisters_the_subscriber() -> None:
    broker = _broker()
    stream = broker.subscribe(RunFilter())
    waiting = asyncio.ensure_future(anext(stream))
    await asyncio.sleep(0)
    assert broker.subscriber_count == 1
    waiting.cancel()  # what the server does when the client sends "complete"
    await asyncio.gather(waiting, return_exceptions=True)
    assert broker.subscriber_count == 0


def test_notify_payloads_keep_every_id_in_order_under_the_byte_limit() -> None:
    run_ids = [f"update:{number:0>150}" for number in range(1000)]
    payloads = notify_payloads(run_ids)
    assert len(payloads) > 1
    assert all(len(payload.encode()) <= NOTIFY_PAYLOAD_BYTES for payload in payloads)
    assert [run_id for payload in payloads for run_id in json.loads(payload)] == run_ids
    # Full chunks: no payload could have taken the next id.
    for payload, following in itertools.pairwise(payloads):
        next_id = json.loads(following)[0]
        assert len(payload.encode()) + len(json.dumps(next_id)) + 1 > NOTIFY_PAYLOAD_BYTES


def test_notify_payloads_of_a_few_ids_are_one_json_list() -> None:
    assert notify_payloads(["a", "b"]) == ['["a","b"]']
    assert notify_payloads([]) == []
