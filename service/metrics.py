"""Prometheus metrics, served at /metrics."""

from __future__ import annotations

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, Counter, Gauge, generate_latest

REPORTS_TOTAL = Counter(
    "installstats_reports_total",
    "Reports received over REST, by endpoint and what became of them.",
    ["source", "result"],
)
INGEST_QUEUE = Gauge("installstats_ingest_queue", "Reports waiting for the group-commit writer.")


async def metrics_handler(request: web.Request) -> web.Response:
    return web.Response(body=generate_latest(), headers={"Content-Type": CONTENT_TYPE_LATEST})
