"""The aiohttp application: GraphQL, the REST shim, health and metrics."""

from __future__ import annotations

from collections.abc import AsyncIterator

import structlog
from aiohttp import web
from sqlalchemy import text

from graphql_api.schema import build_schema
from graphql_api.view import InstallstatsGraphQLView
from live.sockets import OpenWebSockets
from live.wiring import start_live_updates
from rest import ingest, legacy_reads
from service.jsonutil import json_response
from service.keys import BROKER, DATABASE, SETTINGS, WEBSOCKETS, WRITER
from service.logs import AccessLogger, configure_logging
from service.metrics import INGEST_QUEUE, metrics_handler
from service.settings import Settings
from storage.engine import open_database
from storage.migrate import upgrade_to_head
from storage.writer.group_commit import IngestWriter

log = structlog.get_logger(__name__)


async def _storage(app: web.Application) -> AsyncIterator[None]:
    """Open the store, migrate it, run the writer and live updates; on shutdown commit
    what is queued, then end the subscriptions."""
    settings = app[SETTINGS]
    database = open_database(settings.database_url, sqlite_synchronous=settings.sqlite_synchronous)
    if settings.migrate_on_start:
        await upgrade_to_head(database.writer)
    writer = IngestWriter(
        database,
        queue_size=settings.ingest_queue_size,
        batch_size=settings.ingest_batch_size,
        separate_process=settings.ingest_writer == "process",
    )
    app[DATABASE] = database
    app[WRITER] = writer
    app[WEBSOCKETS] = OpenWebSockets()
    INGEST_QUEUE.set_function(lambda: writer.queued)
    await writer.ready()  # before the port opens: readyz means reports are taken
    writer.start()
    live = await start_live_updates(settings, database, writer)
    app[BROKER] = live.broker
    log.info("storage_ready", dialect=database.dialect)
    yield
    await writer.close()  # its last commits still reach the subscribers
    await live.stop()
    await database.dispose()


async def _close_websockets(app: web.Application) -> None:
    """Before aiohttp waits for handlers: open live subscriptions would hold it."""
    if WEBSOCKETS in app:
        await app[WEBSOCKETS].close_all()


async def healthz(request: web.Request) -> web.Response:
    return json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    try:
        async with request.app[DATABASE].reader.connect() as conn:
            await conn.execute(text("SELECT 1"))
    except Exception as exc:
        return json_response({"status": "unavailable", "error": type(exc).__name__}, status=503)
    return json_response({"status": "ready"})


def create_app(settings: Settings) -> web.Application:
    app = web.Application(client_max_size=settings.max_body_bytes)
    app[SETTINGS] = settings
    app.cleanup_ctx.append(_storage)
    app.on_shutdown.append(_close_websockets)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics_handler)
    app.router.add_post("/telemetry", ingest.post_telemetry)
    app.router.add_post("/upload", ingest.post_upload)
    app.router.add_post("/upload/updatestatus", ingest.post_upload_status)
    app.router.add_post("/install", ingest.post_install)
    app.router.add_post("/update", ingest.post_update)
    legacy_reads.add_routes(app.router)
    app.router.add_route("*", "/graphql", InstallstatsGraphQLView(schema=build_schema(settings)))
    return app


def main() -> None:
    settings = Settings()
    configure_logging(settings.log_level)
    web.run_app(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        access_log_class=AccessLogger,
        print=None,
    )


if __name__ == "__main__":
    main()
