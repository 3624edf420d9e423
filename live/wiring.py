"""Starting and stopping live updates with the store: one path per store.

SQLite is one process: the ingest writer's commit listener publishes each committed
change straight to the broker. PostgreSQL may be several processes: changes arrive
only through LISTEN/NOTIFY (the origin process hears its own NOTIFY too), so the
commit listener is not used there, and no run is pushed twice.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta

from ingest.run_record import RunRecord
from live.broker import RunBroker
from live.pg_listener import PgRunListener
from service.settings import Settings
from storage.engine import Database
from storage.writer.group_commit import IngestWriter


@dataclass
class LiveUpdates:
    broker: RunBroker
    listener: PgRunListener | None = None

    async def stop(self) -> None:
        """Stop receiving changes, then end every subscription."""
        if self.listener is not None:
            await self.listener.stop()
        self.broker.close()


async def start_live_updates(
    settings: Settings, database: Database, writer: IngestWriter
) -> LiveUpdates:
    broker = RunBroker(unfinished_after=timedelta(seconds=settings.unfinished_after_seconds))
    if database.dialect == "postgresql":
        listener = PgRunListener(settings.database_url, database, broker)
        await listener.start()
        return LiveUpdates(broker, listener)

    def publish(runs: Sequence[RunRecord]) -> None:
        broker.publish(runs)

    # Runs come back from a writer process only while someone is subscribed.
    writer.add_commit_listener(publish, wanted=lambda: broker.subscriber_count > 0)
    return LiveUpdates(broker)
