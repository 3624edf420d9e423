"""``runChanged``: the live feed of runs, pushed as reports create or change them."""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator
from datetime import UTC, datetime, timedelta

import strawberry
from graphql import GraphQLError

from ingest.run_record import RunRecord
from live.broker import SUBSCRIBER_QUEUE_SIZE, SubscriberFellBehind
from resolvers.context import Context
from resolvers.filters import to_storage_filter
from schema.filters import RunFilter
from schema.runs import Run


@strawberry.type
class RunSubscription:
    @strawberry.subscription(
        description=(
            "Each run, as a report creates or changes it, when it matches the filter (as "
            "in runs(filter), outcome judged at the moment of the change). Runs changed "
            "before subscribing are not replayed. A subscriber that lets more than "
            f"{SUBSCRIBER_QUEUE_SIZE} changed runs wait unread is ended with an error."
        )
    )
    async def run_changed(
        self, info: strawberry.Info[Context, None], filter: RunFilter | None = None
    ) -> AsyncGenerator[Run, None]:
        # A coroutine returning the stream (not a generator itself): a bad filter is then
        # refused before the stream starts, as the protocol's "error" message.
        context = info.context
        run_filter = to_storage_filter(filter)
        if context.broker is None:
            raise GraphQLError("live updates are not available here")
        return _runs(context.broker.subscribe(run_filter), context.unfinished_after)


async def _runs(
    states: AsyncIterator[RunRecord], unfinished_after: timedelta
) -> AsyncGenerator[Run, None]:
    try:
        async for state in states:
            # The context lives as long as the websocket: read the clock per run.
            yield Run.from_row(state, datetime.now(UTC), unfinished_after)
    except SubscriberFellBehind as exc:
        raise GraphQLError(f"runChanged: {exc}") from exc
