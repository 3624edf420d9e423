"""A minimal graphql-transport-ws client for ``runChanged``, and report builders.

Speaks the protocol by hand (connection_init/ack, subscribe, next/error/complete,
ping/pong) so the tests see exactly what a dashboard's WebSocket client sees.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

import aiohttp

from tests.utils.client_payloads import host_event

PROTOCOL = "graphql-transport-ws"
RUN_CHANGED = """
subscription ($filter: RunFilter) {
  runChanged(filter: $filter) {
    id executionId sessionId kind app type status outcome exitCode startedAt lastSeenAt
    finishedAt durationSeconds osType osVersion eventCount
  }
}
"""


class LiveFeed:
    """One websocket; any number of subscriptions, each with its own inbox."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self._ws = ws
        self._inboxes: dict[str, asyncio.Queue[dict[str, Any]]] = {}
        self._reader: asyncio.Task[None] | None = None

    @classmethod
    @asynccontextmanager
    async def connect(
        cls, session: aiohttp.ClientSession | Any, url: str
    ) -> AsyncIterator[LiveFeed]:
        """``session`` is an aiohttp ClientSession or TestClient (both have ws_connect)."""
        async with session.ws_connect(url, protocols=[PROTOCOL]) as ws:
            assert ws.protocol == PROTOCOL
            await ws.send_json({"type": "connection_init"})
            ack = await asyncio.wait_for(ws.receive_json(), timeout=5)
            assert ack["type"] == "connection_ack", ack
            feed = cls(ws)
            feed._reader = asyncio.create_task(feed._read())
            try:
                yield feed
            finally:
                feed._reader.cancel()
                await asyncio.gather(feed._reader, return_exceptions=True)

    async def subscribe(self, run_filter: dict[str, Any] | None = None) -> str:
        operation_id = uuid.uuid4().hex
        self._inboxes[operation_id] = asyncio.Queue()
        await self._ws.send_json(
            {
                "id": operation_id,
                "type": "subscribe",
                "payload": {"query": RUN_CHANGED, "variables": {"filter": run_filter}},
            }
        )
        return operation_id

    async def message(self, operation_id: str, within: float = 10.0) -> dict[str, Any]:
        """The next protocol message of this subscription (next, error or complete)."""
        return await asyncio.wait_for(self._inboxes[operation_id].get(), timeout=within)

    async def next_run(self, operation_id: str, within: float = 10.0) -> dict[str, Any]:
        message = await self.message(operation_id, within)
        assert message["type"] == "next", message
        assert "errors" not in message["payload"], message
        run: dict[str, Any] = message["payload"]["data"]["runChanged"]
        return run

    async def assert_silent(self, operation_id: str, for_seconds: float) -> None:
        try:
            message = await self.message(operation_id, within=for_seconds)
        except TimeoutError:
            return
        raise AssertionError(f"expected no message, got {message}")

    async def wait_closed(self, within: float) -> int | None:
        """Wait until the server closes the socket; its close code."""
        assert self._reader is not None
        await asyncio.wait_for(asyncio.shield(self._reader), timeout=within)
        return self._ws.close_code

    async def _read(self) -> None:
        async for frame in self._ws:
            if frame.type != aiohttp.WSMsgType.TEXT:
                break
            message = frame.json()
            if message["type"] == "ping":
                await self._ws.send_json({"type": "pong"})
            elif "id" in message and message["id"] in self._inboxes:
                await self._inboxes[message["id"]].put(message)


def telemetry_report(run_id: str, app: str, status: str, **extra: Any) -> dict[str, Any]:
    """A current-client /telemetry body for run ``run_id``."""
    return host_event(
        run_id,
        status,
        nsapp=app,
        metadata=("os_type", "os_version", "pve_version", "method"),
        timestamp=datetime.now(UTC).isoformat(),
        **extra,
    )
