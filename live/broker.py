"""In-process fan-out of changed runs to the live subscribers of this process.

Publishing never waits: it runs inside the ingest writer's commit step (SQLite) or
the PostgreSQL notification handler, so a slow subscriber must not slow ingest.
Each subscriber therefore has its own bounded queue of ``SUBSCRIBER_QUEUE_SIZE``
runs. A subscriber that falls that far behind (its client reads slower than runs
change) is dropped: its queued runs are discarded and its iterator raises
``SubscriberFellBehind``, which the GraphQL layer reports as an error and ends the
subscription. Memory stays bounded by subscribers × queue size, whatever the clients do.

The filter is evaluated at publish time, so only matching runs are queued.
"""

from __future__ import annotations

import contextlib
from asyncio import Queue, QueueEmpty, QueueFull
from collections.abc import AsyncIterator, Iterable
from datetime import UTC, datetime, timedelta
from enum import Enum

import structlog

from ingest.run_record import RunRecord
from live.matching import matches
from storage.analytics.filters import RunFilter

log = structlog.get_logger(__name__)

SUBSCRIBER_QUEUE_SIZE = 1000


class SubscriberFellBehind(Exception):
    """The subscriber did not keep up with the changes it asked for and was dropped."""


class _End(Enum):
    CLOSED = "closed"  # the broker shut down: end the stream normally
    FELL_BEHIND = "fell_behind"


class _Subscriber:
    __slots__ = ("queue", "run_filter")

    def __init__(self, run_filter: RunFilter, queue_size: int) -> None:
        self.run_filter = run_filter
        # One slot more than the bound, kept free for the end marker.
        self.queue: Queue[RunRecord | _End] = Queue(maxsize=queue_size + 1)

    def offer(self, run_state: RunRecord, bound: int) -> bool:
        """Queue the run; False when the bound is reached (the caller drops us)."""
        if self.queue.qsize() >= bound:
            return False
        self.queue.put_nowait(run_state)
        return True

    def end(self, marker: _End, *, discard: bool) -> None:
        if discard:
            with contextlib.suppress(QueueEmpty):
                while True:
                    self.queue.get_nowait()
        with contextlib.suppress(QueueFull):  # the free slot makes this always fit
            self.queue.put_nowait(marker)


class RunBroker:
    """Subscribers of this process, each with a filter and a bounded queue."""

    def __init__(
        self, *, unfinished_after: timedelta, queue_size: int = SUBSCRIBER_QUEUE_SIZE
    ) -> None:
        self._unfinished_after = unfinished_after
        self._queue_size = queue_size
        self._subscribers: set[_Subscriber] = set()
        self._closed = False

    @property
    def subscriber_count(self) -> int:
        return len(self._subscribers)

    async def subscribe(self, run_filter: RunFilter) -> AsyncIterator[RunRecord]:
        """Every run published from now on that matches ``run_filter``, in publish order.

        Ends when the broker closes; raises ``SubscriberFellBehind`` when dropped.
        Leaving the loop (or the client unsubscribing) unregisters at once.
        """
        subscriber = _Subscriber(run_filter, self._queue_size)
        if self._closed:
            return
        self._subscribers.add(subscriber)
        try:
            while True:
                item = await subscriber.queue.get()
                if item is _End.CLOSED:
                    return
                if item is _End.FELL_BEHIND:
                    raise SubscriberFellBehind(
                        f"more than {self._queue_size} changed runs were waiting for this "
                        "subscriber; it was dropped, subscribe again"
                    )
                assert not isinstance(item, _End)
                yield item
        finally:
            self._subscribers.discard(subscriber)

    def publish(self, run_states: Iterable[RunRecord]) -> None:
        """Queue each run for the subscribers whose filter it matches; never blocks.

        The run states must not be mutated afterwards: subscribers share them.
        """
        states = list(run_states)
        if not states or not self._subscribers:
            return
        cutoff = datetime.now(UTC) - self._unfinished_after
        for subscriber in list(self._subscribers):
            for state in states:
                if not matches(subscriber.run_filter, state, cutoff):
                    continue
                if not subscriber.offer(state, self._queue_size):
                    self._drop(subscriber)
                    break

    def close(self) -> None:
        """End every subscription (normally) and refuse new ones: the server stops."""
        self._closed = True
        for subscriber in list(self._subscribers):
            subscriber.end(_End.CLOSED, discard=False)
        self._subscribers.clear()

    def _drop(self, subscriber: _Subscriber) -> None:
        self._subscribers.discard(subscriber)
        subscriber.end(_End.FELL_BEHIND, discard=True)
        log.warning("live_subscriber_dropped", queue_size=self._queue_size)
