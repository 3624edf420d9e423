"""Install runs for the legacy-read tests: how to post them, and what each must read back as.

An ``Install`` describes one run the way a test thinks of it (app, start time, final raw
status, exit code, error text, which client generation sent it). ``post_installs`` sends
it through the REST shim exactly as that client would (plus the optional ``timestamp``
that places it in time); the ``expected_*`` functions compute, in plain Python and from
the spec alone, the old-shape record and the outcome the service must report.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from tests.utils.client_payloads import (
    Fields,
    host_event,
    iso_utc,
    render,
    upload_install,
    upload_status,
)

UNFINISHED_AFTER = timedelta(hours=3)  # the settings fixture's threshold
FINISH_AFTER = timedelta(minutes=10)  # a terminal report comes this long after the first
ABORT_CODES = {129, 130, 143}
SUCCESS_STATUSES = {"success", "done", "sucess"}


@dataclass(frozen=True, slots=True)
class Install:
    app: str
    started: datetime
    final: str | None = "success"  # raw terminal status as sent; None: no terminal yet
    exit_code: int | None = None  # the code the run ends up with (sent or, old client, named)
    error: str | None = None
    os_type: str = "debian"
    os_version: str = "12"
    old_client: bool = False  # /upload + /upload/updatestatus instead of /telemetry
    random_id: str = ""

    def __post_init__(self) -> None:
        if not self.random_id:
            object.__setattr__(self, "random_id", str(uuid.uuid4()))


def install(app: str, started: datetime, final: str | None = "success", **fields: Any) -> Install:
    return Install(app, started.replace(microsecond=0), final, **fields)


# --- posting -----------------------------------------------------------------------------


def _bodies(spec: Install) -> list[tuple[str, Fields]]:
    if spec.old_client:
        return _old_client_bodies(spec)
    bodies = [("/telemetry", _host_event(spec, "installing", spec.started, {}))]
    if spec.final is not None:
        result: Fields = {"error": spec.error or ""}
        if spec.exit_code is not None:
            result["exit_code"] = spec.exit_code
        finished = spec.started + FINISH_AFTER
        bodies.append(("/telemetry", _host_event(spec, spec.final, finished, result)))
    return bodies


def _host_event(spec: Install, status: str, moment: datetime, result: Fields) -> Fields:
    """The current client's host-side event (exit_code 0 and no error unless given)."""
    event = host_event(spec.random_id, status, nsapp=spec.app)
    event.update(os_type=spec.os_type, os_version=spec.os_version, **result)
    event["timestamp"] = iso_utc(moment)
    return event


def _old_client_bodies(spec: Install) -> list[tuple[str, Fields]]:
    first = upload_install(
        spec.random_id,
        nsapp=spec.app,
        os_type=spec.os_type,
        os_version=spec.os_version,
        disableip6="yes",
        timestamp=iso_utc(spec.started),
    )
    bodies = [("/upload", first)]
    if spec.final is not None:
        last = upload_status(spec.random_id, spec.final, spec.error or "")
        last["timestamp"] = iso_utc(spec.started + FINISH_AFTER)
        bodies.append(("/upload/updatestatus", last))
    return bodies


async def post_install(client: Any, spec: Install) -> None:
    """One run's reports, in order (each answered after it is stored)."""
    for path, fields in _bodies(spec):
        response = await client.post(
            path, data=render(fields), headers={"Content-Type": "application/json"}
        )
        assert response.status in (200, 201, 202), (path, await response.text())


async def post_installs(client: Any, specs: Iterable[Install]) -> None:
    await asyncio.gather(*(post_install(client, spec) for spec in specs))


# --- expectations --------------------------------------------------------------------------


def raw_status(spec: Install) -> str:
    return spec.final if spec.final is not None else "installing"


def expected_outcome(spec: Install, now: datetime) -> str:
    """docs/analytics.md: effective outcome; an open run goes UNFINISHED after 3 h."""
    if spec.final is None:
        recent = now - spec.started < UNFINISHED_AFTER
        return "IN_PROGRESS" if recent else "UNFINISHED"
    if spec.final in SUCCESS_STATUSES:
        return "SUCCESS"
    if spec.final == "failed":
        return "ABORTED" if spec.exit_code in ABORT_CODES else "FAILED"
    return spec.final.upper()


def expected_error(spec: Install) -> str | None:
    """A success keeps no error text; progress has none."""
    if spec.final is None or spec.final in SUCCESS_STATUSES:
        return None
    return spec.error or None


def expected_record(spec: Install) -> dict[str, Any]:
    """The previous service's record keys (docs/semantics.md, "Previous client") for this run."""
    return {
        "id": spec.random_id,
        "ct_type": 1,
        "disk_size": 8,
        "core_count": 2,
        "ram_size": 2048,
        "os_type": spec.os_type,
        "os_version": spec.os_version,
        "disableip6": "yes" if spec.old_client else None,
        "nsapp": spec.app,
        "method": "default",
        "created_at": spec.started.astimezone(UTC).isoformat(),
        "pve_version": "8.4.1",
        "status": raw_status(spec),
        "random_id": spec.random_id,
        "type": "lxc",
        "error": expected_error(spec),
    }


def newest_first(specs: Iterable[Install]) -> list[Install]:
    """The legacy lists' order: start time descending, then id descending."""
    return sorted(specs, key=lambda spec: (spec.started, spec.random_id), reverse=True)


def records(specs: Iterable[Install]) -> list[dict[str, Any]]:
    return [expected_record(spec) for spec in newest_first(specs)]
