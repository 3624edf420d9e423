"""Read endpoints outside GraphQL: ``GET /stats`` and the previous service's ``/data/*``.

``/stats`` is the brief's public statistics; its numbers come from the same analytics
functions (and rollups) as GraphQL ``summary``, ``appStats`` and ``errorHistogram``, so
the two never disagree. The ``/data/*`` reads keep the previous service's shapes
(docs/semantics.md, "Previous client") for old dashboards and scripts, but every one is
bounded: a list never holds more than ``MAX_LIMIT`` records, a count map never more than
``MAX_KEYS`` keys. They read install runs only (updates are a kind of run the previous
service never had). A bad query parameter is answered 400 in the shim's error shape,
naming the parameter.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncConnection

from ingest.exit_codes import lookup_exit_code
from ingest.statuses import outcome_counts
from rest.errors import error_response
from service.jsonutil import json_response
from service.keys import DATABASE, SETTINGS
from storage.analytics.errors import ErrorBucket, ErrorGrouping, error_histogram
from storage.analytics.filters import RunFilter
from storage.analytics.outcomes import OutcomeCounts
from storage.analytics.summary import AppCounts, AppOrder, app_counts, summarize
from storage.model.dimensions import Dimension
from storage.reads import legacy

MAX_LIMIT = 1000  # records in one answer
DEFAULT_LIMIT = 1000
DEFAULT_PAGE_LIMIT = 10
MAX_PAGE = 1_000_000  # keeps page × limit a sane offset
MAX_KEYS = 1000  # keys of a count map (status_count, nsapp_count)
MAX_ERRORS = 100  # entries of /data/errors
ERROR_CHARS = 300  # characters of an error text shown by /data/errors
MAX_TEXT = 200  # longest text parameter; no stored value is longer
STATS_DEFAULT_DAYS = 30
STATS_MAX_DAYS = 366
STATS_TOP_APPS = 20
STATS_TOP_ERRORS = 10
STATS_KINDS = {"install": ("INSTALL",), "update": ("UPDATE",), "all": ("INSTALL", "UPDATE")}
INSTALLS = RunFilter(values={Dimension.KIND: frozenset({legacy.LEGACY_KIND})})
DATE_PATTERN = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")

Handler = Callable[[web.Request], Awaitable[web.Response]]


class ParameterError(Exception):
    """A query parameter that is missing or not acceptable: answered 400."""

    def __init__(self, name: str, code: str, message: str) -> None:
        super().__init__(message)
        self.name = name
        self.code = code
        self.message = message


def add_routes(router: web.UrlDispatcher) -> None:
    for path, handler in ROUTES.items():
        router.add_get(path, _answering(handler))


def _answering(handler: Handler) -> Handler:
    """Turn a ParameterError into the shim's 400, so handlers just raise."""

    async def answer(request: web.Request) -> web.Response:
        try:
            return await handler(request)
        except ParameterError as exc:
            return error_response(400, exc.code, exc.message, exc.name)

    answer.__doc__ = handler.__doc__
    return answer


# --- query parameters -------------------------------------------------------------------


def _text(request: web.Request, name: str, *, required: bool = True) -> str | None:
    value = request.query.get(name, "").strip()
    if not value:
        if required:
            raise ParameterError(name, "missing_parameter", f"{name} is required")
        return None
    if len(value) > MAX_TEXT:
        raise ParameterError(
            name, "invalid_parameter", f"{name} is longer than {MAX_TEXT} characters"
        )
    return value


def _required_text(request: web.Request, name: str) -> str:
    value = _text(request, name)
    assert value is not None
    return value


def _int(request: web.Request, name: str, default: int, low: int, high: int) -> int:
    raw = request.query.get(name, "").strip()
    if not raw:
        return default
    if not raw.isascii() or not raw.lstrip("-").isdigit():
        raise ParameterError(name, "invalid_parameter", f"{name} must be an integer")
    value = int(raw)
    if not low <= value <= high:
        raise ParameterError(
            name, "invalid_parameter", f"{name} must be between {low} and {high}, got {value}"
        )
    return value


def _limit(request: web.Request, default: int = DEFAULT_LIMIT) -> int:
    return _int(request, "limit", default, 1, MAX_LIMIT)


def _date(request: web.Request, name: str) -> date:
    raw = _required_text(request, name)
    try:
        if DATE_PATTERN.fullmatch(raw) is None:
            raise ValueError(raw)
        return date.fromisoformat(raw)
    except ValueError as exc:
        raise ParameterError(
            name, "invalid_parameter", f"{name} must be a date YYYY-MM-DD, got {raw[:40]!r}"
        ) from exc


def _kinds(request: web.Request) -> tuple[str, ...]:
    raw = (_text(request, "kind", required=False) or "install").lower()
    if raw not in STATS_KINDS:
        raise ParameterError("kind", "invalid_parameter", "kind must be install, update or all")
    return STATS_KINDS[raw]


# --- GET /stats -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Clock:
    """One "now" per request: the window and the unfinished cutoff agree with each other."""

    now: datetime
    cutoff: datetime


def _clock(request: web.Request) -> _Clock:
    now = datetime.now(UTC)
    return _Clock(now, now - timedelta(seconds=request.app[SETTINGS].unfinished_after_seconds))


def _use_rollups(request: web.Request) -> bool:
    return request.app[SETTINGS].analytics_use_rollups


async def get_stats(request: web.Request) -> web.Response:
    """Public statistics over the last ``days`` days (default 30, 1–366), counting runs.

    Install runs by default (``kind=update`` for update runs, ``kind=all`` for both):
    installs and updates are counted apart unless asked for together. ``summary`` has
    every outcome beside ``success_rate`` = success / (success + failed); ``top_apps``
    is the 20 apps with the most runs; ``top_errors`` the 10 exit codes with the most
    FAILED runs (``exit_code`` null: failed without a known code).
    """
    days = _int(request, "days", STATS_DEFAULT_DAYS, 1, STATS_MAX_DAYS)
    kinds = _kinds(request)
    clock = _clock(request)
    run_filter = RunFilter(
        since=clock.now - timedelta(days=days),
        until=clock.now,
        values={Dimension.KIND: frozenset(kinds)},
    )
    rollups = _use_rollups(request)
    async with request.app[DATABASE].reader.connect() as conn:
        counts = await summarize(
            conn, run_filter=run_filter, cutoff=clock.cutoff, use_rollups=rollups
        )
        apps = await app_counts(
            conn,
            run_filter=run_filter,
            cutoff=clock.cutoff,
            order_by=AppOrder.RUNS_DESC,
            min_runs=0,
            first=STATS_TOP_APPS,
            use_rollups=rollups,
        )
        histogram = await error_histogram(
            conn,
            run_filter=run_filter,
            by=ErrorGrouping.EXIT_CODE,
            top=STATS_TOP_ERRORS,
            cutoff=clock.cutoff,
            use_rollups=rollups,
        )
    return json_response(
        {
            "generated_at": clock.now,
            "window": {"since": run_filter.since, "until": run_filter.until},
            "summary": _summary(counts),
            "top_apps": [_app(entry) for entry in apps],
            "top_errors": [_error(bucket) for bucket in histogram.buckets],
        }
    )


def _summary(counts: OutcomeCounts) -> dict[str, Any]:
    return {
        "runs": counts.runs,
        **outcome_counts(counts),
        "success_rate": counts.success_rate.value,
    }


def _app(entry: AppCounts) -> dict[str, Any]:
    counts = entry.counts
    return {
        "app": entry.app,
        "runs": counts.runs,
        "success": counts.success,
        "failed": counts.failed,
        "success_rate": counts.success_rate.value,
    }


def _error(bucket: ErrorBucket) -> dict[str, Any]:
    description = category = None
    if bucket.exit_code is not None:
        entry = lookup_exit_code(bucket.exit_code)
        description, category = " / ".join(entry.descriptions), entry.category
    return {
        "exit_code": bucket.exit_code,
        "description": description,
        "category": category,
        "count": bucket.count,
    }


# --- GET /data/* (the previous service's reads) -----------------------------------------


async def _records(
    request: web.Request,
    where: list[legacy.Condition],
    limit: int,
    offset: int = 0,
) -> web.Response:
    async with request.app[DATABASE].reader.connect() as conn:
        records = await legacy.fetch_records(conn, where=where, limit=limit, offset=offset)
    return json_response(records)


async def get_data_json(request: web.Request) -> web.Response:
    """Install records, newest first; at most ``limit`` (default 1000, max 1000).

    The previous service dumped every record here; this one never answers more than
    one bounded page.
    """
    return await _records(request, [], _limit(request))


async def get_data_paginated(request: web.Request) -> web.Response:
    """One page of install records, newest first, as a list (the old shape).

    ``page`` ≥ 1 (at most 1,000,000), ``limit`` 1–1000 (default 10).
    """
    page = _int(request, "page", 1, 1, MAX_PAGE)
    limit = _limit(request, DEFAULT_PAGE_LIMIT)
    return await _records(request, [], limit, (page - 1) * limit)


async def get_data_summary(request: web.Request) -> web.Response:
    """``{total_entries, status_count, nsapp_count}`` over all install runs.

    ``status_count`` is keyed by the raw status as sent (``done``, ``failed``,
    ``installing`` …), ``nsapp_count`` by app; both count runs, most first, at most
    1000 keys each. Runs without an app are in ``total_entries`` but have no
    ``nsapp_count`` key (a JSON key cannot be null).
    """
    clock = _clock(request)
    rollups = _use_rollups(request)
    async with request.app[DATABASE].reader.connect() as conn:
        counts = await summarize(
            conn, run_filter=INSTALLS, cutoff=clock.cutoff, use_rollups=rollups
        )
        statuses = await legacy.status_counts(conn, top=MAX_KEYS)
        apps = await _app_totals(conn, clock.cutoff, rollups)
    return json_response(
        {"total_entries": counts.runs, "status_count": dict(statuses), "nsapp_count": apps}
    )


async def _app_totals(conn: AsyncConnection, cutoff: datetime, rollups: bool) -> dict[str, int]:
    apps = await app_counts(
        conn,
        run_filter=INSTALLS,
        cutoff=cutoff,
        order_by=AppOrder.RUNS_DESC,
        min_runs=0,
        first=MAX_KEYS,
        use_rollups=rollups,
    )
    return {entry.app: entry.counts.runs for entry in apps}


async def get_data_nsapp(request: web.Request) -> web.Response:
    """Install records of one app (``nsapp``, required; matched lower-case, as stored),
    newest first; at most ``limit`` (default 1000, max 1000)."""
    app = _required_text(request, "nsapp").lower()
    return await _records(request, legacy.app_is(app), _limit(request))


async def get_data_date(request: web.Request) -> web.Response:
    """Install records started from ``start_date`` 00:00 UTC up to the end of
    ``end_date`` (UTC, inclusive), both required as YYYY-MM-DD; newest first, at most
    ``limit`` (default 1000, max 1000)."""
    start, end = _date(request, "start_date"), _date(request, "end_date")
    if start > end:
        raise ParameterError(
            "start_date", "invalid_parameter", "start_date must not be after end_date"
        )
    limit = _limit(request)
    since = datetime.combine(start, time(), UTC)
    until = None if end == date.max else datetime.combine(end + timedelta(days=1), time(), UTC)
    return await _records(request, legacy.started_in(since, until), limit)


async def get_data_status(request: web.Request) -> web.Response:
    """Install records whose raw status (as sent: ``done``, ``failed``, ``installing`` …)
    is ``status`` (required, exact); newest first, at most ``limit`` (default 1000, max
    1000)."""
    status = _required_text(request, "status")
    return await _records(request, legacy.status_is(status), _limit(request))


async def get_data_os(request: web.Request) -> web.Response:
    """Install records of ``os_type`` (required; lower-case, as stored) and, when given,
    ``os_version`` (exact); newest first, at most ``limit`` (default 1000, max 1000)."""
    os_type = _required_text(request, "os_type").lower()
    os_version = _text(request, "os_version", required=False)
    where = legacy.os_is(os_type, os_version)
    return await _records(request, where, _limit(request))


async def get_data_errors(request: web.Request) -> web.Response:
    """``{"error_counts": [{error, count}]}``: install runs per stored (scrubbed) error
    text, the 100 most frequent, ties by text; each text cut to its first 300
    characters."""
    async with request.app[DATABASE].reader.connect() as conn:
        found = await legacy.error_counts(conn, top=MAX_ERRORS, chars=ERROR_CHARS)
    return json_response(
        {"error_counts": [{"error": error, "count": count} for error, count in found]}
    )


ROUTES: dict[str, Handler] = {
    "/stats": get_stats,
    "/data/json": get_data_json,
    "/data/paginated": get_data_paginated,
    "/data/summary": get_data_summary,
    "/data/nsapp": get_data_nsapp,
    "/data/date": get_data_date,
    "/data/status": get_data_status,
    "/data/os": get_data_os,
    "/data/errors": get_data_errors,
}
