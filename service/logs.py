"""Structured JSON logs on stderr; nothing that identifies a client (no IPs)."""

from __future__ import annotations

import json
import logging
import sys
import threading
import time
from contextlib import AbstractContextManager
from datetime import UTC, datetime
from typing import Any, TextIO

import orjson
import structlog
from aiohttp.abc import AbstractAccessLogger
from aiohttp.web import BaseRequest, StreamResponse


def _json_text(value: Any, **options: Any) -> str:
    """orjson behind structlog's JSONRenderer: the same JSON objects, a few times cheaper;
    what orjson refuses (integers beyond 64 bits) still gets the standard encoder."""
    try:
        return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS, **options).decode()
    except TypeError:  # orjson.JSONEncodeError is a TypeError
        return json.dumps(value, **options)


class _AccessSink:
    """Where access lines go: the stream of the one stderr handler, or nowhere when the
    level hides INFO. Set by ``configure_logging``; plain stderr until then."""

    def __init__(self) -> None:
        self.stream: TextIO = sys.stderr
        self.lock: AbstractContextManager[Any] = threading.RLock()
        self.enabled = True


_ACCESS = _AccessSink()


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
                structlog.processors.JSONRenderer(serializer=_json_text),
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
    _ACCESS.stream = handler.stream
    _ACCESS.lock = handler.lock or _ACCESS.lock
    _ACCESS.enabled = logging.getLogger("access").isEnabledFor(logging.INFO)


class _UtcClock:
    """ISO 8601 UTC time stamps as structlog writes them (``...T12:00:00.123456Z``), with
    the part up to the second formatted once per second."""

    def __init__(self) -> None:
        self._second = -1
        self._prefix = ""

    def stamp(self) -> str:
        now = time.time()
        second = int(now)
        if second != self._second:
            self._prefix = datetime.fromtimestamp(second, UTC).strftime("%Y-%m-%dT%H:%M:%S")
            self._second = second
        micros = int((now - second) * 1_000_000)
        return f"{self._prefix}.{micros:06d}Z" if micros else f"{self._prefix}Z"


_CLOCK = _UtcClock()


class AccessLogger(AbstractAccessLogger):
    """One JSON line per request: method, path, status, bytes, seconds; never the peer
    address or headers, so no client IP reaches the logs.

    The line has the fields and order of a structlog ``info("request", ...)`` call but is
    written straight to the log stream: structlog plus stdlib logging cost more per request
    than the whole ingest handler.
    """

    @property
    def enabled(self) -> bool:
        return _ACCESS.enabled

    def log(self, request: BaseRequest, response: StreamResponse, time: float) -> None:
        line = orjson.dumps(
            {
                "method": request.method,
                "path": request.path,
                "status": response.status,
                "bytes": response.body_length,
                "seconds": round(time, 6),
                "event": "request",
                "level": "info",
                "timestamp": _CLOCK.stamp(),
            }
        )
        sink = _ACCESS
        with sink.lock:  # the handler's lock: lines from other threads never interleave
            sink.stream.write(line.decode() + "\n")
            sink.stream.flush()
