"""The one JSON error shape of the REST shim."""

from __future__ import annotations

from aiohttp import web

from service.jsonutil import dumps


def error_body(code: str, message: str, field: str | None = None) -> dict[str, object]:
    """``{"error": {"code", "message", "field"}}``: code is stable, message is for people."""
    return {"error": {"code": code, "message": message, "field": field}}


def error_response(
    status: int,
    code: str,
    message: str,
    field: str | None = None,
    headers: dict[str, str] | None = None,
) -> web.Response:
    return web.Response(
        status=status,
        body=dumps(error_body(code, message, field)),
        content_type="application/json",
        headers=headers,
    )
