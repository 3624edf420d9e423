"""Structured JSON logs on stderr; nothing that identifies a client (no IPs)."""

from __future__ import annotations

import logging
import sys

import structlog
from aiohttp.abc import AbstractAccessLogger
from aiohttp.web import BaseRequest, StreamResponse


def configure_logging(level: str) -> None:
    """Every log line on stderr is one JSON object, ours and the libraries' (Alembic,
    aiohttp) alike."""
    shared: list[structlog.types.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=shared,
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                structlog.processors.format_exc_info,
                structlog.processors.JSONRenderer(),
            ],
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        logger_factory=structlog.stdlib.LoggerFactory(),
        cache_logger_on_first_use=True,
    )


class AccessLogger(AbstractAccessLogger):
    """One JSON line per request: method, path, status, bytes, seconds; never the peer
    address or headers, so no client IP reaches the logs."""

    def log(self, request: BaseRequest, response: StreamResponse, time: float) -> None:
        structlog.get_logger("access").info(
            "request",
            method=request.method,
            path=request.path,
            status=response.status,
            bytes=response.body_length,
            seconds=round(time, 6),
        )
