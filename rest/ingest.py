"""Where a report enters over REST: read the body, validate it, queue it, answer after commit.

Each endpoint answers exactly what its client generation expects; the previous
server's 201/200 bodies are kept because forks check them.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from aiohttp import web

from ingest.errors import ReportError
from ingest.lenient_json import BodyError, parse_report_body
from ingest.report import build_report
from rest.errors import error_response
from service.jsonutil import json_response
from service.keys import SETTINGS, WRITER
from service.metrics import reports_counter
from storage.writer.group_commit import Overloaded, WriterClosed
from storage.writer.plan import Accepted

RETRY_AFTER_SECONDS = "2"

Answer = Callable[[Accepted], web.Response]


async def post_telemetry(request: web.Request) -> web.Response:
    """Current client (2026): any 2xx is success."""
    return await _ingest(request, "telemetry", lambda a: json_response(_receipt(a), 202))


async def post_upload(request: web.Request) -> web.Response:
    """Previous client's install report; its server answered 201 with this body."""
    return await _ingest(
        request, "upload", lambda _: json_response({"message": "Data saved successfully"}, 201)
    )


async def post_upload_status(request: web.Request) -> web.Response:
    """Previous client's final status (``done``/``failed``), matched by random_id."""
    return await _ingest(
        request,
        "upload/updatestatus",
        lambda _: json_response({"message": "Record updated successfully"}, 200),
    )


async def post_install(request: web.Request) -> web.Response:
    """The brief's install API (``post_to_api CTID STATUS APP_NAME``)."""
    return await _ingest(request, "install", lambda a: json_response(_receipt(a), 201))


async def post_update(request: web.Request) -> web.Response:
    """The brief's application-update API (``post_update_to_api CTID APP_NAME VERSION``)."""
    return await _ingest(request, "update", lambda a: json_response(_receipt(a), 201))


def _receipt(accepted: Accepted) -> dict[str, object]:
    return {"status": "stored", "run_id": accepted.run_id, "duplicate": accepted.duplicate}


async def _ingest(request: web.Request, source: str, answer: Answer) -> web.Response:
    received_at = datetime.now(UTC)
    try:
        body = await request.read()
    except web.HTTPRequestEntityTooLarge:
        reports_counter(source, "too_large").inc()
        limit = request.app[SETTINGS].max_body_bytes
        return error_response(413, "body_too_large", f"request body is larger than {limit} bytes")
    try:
        report = build_report(source, parse_report_body(body), received_at)
    except BodyError as exc:
        reports_counter(source, "malformed").inc()
        return error_response(400, "malformed_json", exc.message)
    except ReportError as exc:
        reports_counter(source, "invalid").inc()
        return error_response(422, exc.code, exc.message, exc.field)
    try:
        accepted = await request.app[WRITER].submit(report)
    except (Overloaded, WriterClosed):
        reports_counter(source, "overloaded").inc()
        return error_response(
            503,
            "overloaded",
            "the server is busy; retry later",
            headers={"Retry-After": RETRY_AFTER_SECONDS},
        )
    except Exception:  # the store failed this report's transaction: nothing was kept
        reports_counter(source, "store_failed").inc()
        return error_response(
            503,
            "storage_unavailable",
            "the report could not be stored; retry later",
            headers={"Retry-After": RETRY_AFTER_SECONDS},
        )
    reports_counter(source, "duplicate" if accepted.duplicate else "stored").inc()
    return answer(accepted)
