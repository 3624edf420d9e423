"""Prometheus metrics, served at /metrics."""

from __future__ import annotations

from functools import cache

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, Counter, Gauge, generate_latest

REPORTS_TOTAL = Counter(
    "installstats_reports_total",
    "Reports received over REST, by endpoint and what became of them.",
    ["source", "result"],
)
INGEST_QUEUE = Gauge("installstats_ingest_queue", "Reports waiting for the group-commit writer.")


@cache
def reports_counter(source: str, result: str) -> Counter:
    """The REPORTS_TOTAL child of one (source, result), bound once: ``labels()`` checks
    and locks on every call, which costs more than the increment. A series still appears
    on /metrics only once it was counted, as with ``labels()``."""
    return REPORTS_TOTAL.labels(source=source, result=result)


async def metrics_handler(request: web.Request) -> web.Response:
    return web.Response(body=generate_latest(), headers={"Content-Type": CONTENT_TYPE_LATEST})
