"""Wire payloads of each client generation, rendered the way the bash clients render them.

The installer clients build their JSON with heredocs: one member per line, four-space
indent, strings quoted, numbers and booleans spliced in unquoted. ``render`` produces
exactly that layout (the current client's captured bodies come out byte for byte), and
``Raw`` splices a token verbatim, for the broken JSON that the previous client sends
when a shell variable is empty (``"disk_size": ,``) or holds ``8G``.

Builders return ordered field dicts so a test can override any field in place
(``dict.update`` keeps the position of known keys) before rendering.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone


@dataclass(frozen=True, slots=True)
class Raw:
    """A JSON token spliced in verbatim, as bash splices an unquoted variable."""

    text: str


Value = str | int | bool | Raw
Fields = dict[str, Value]


def render(fields: Mapping[str, Value]) -> bytes:
    """The body as a bash heredoc builds it."""
    members = [f'    "{key}": {_token(value)}' for key, value in fields.items()]
    return ("{\n" + ",\n".join(members) + "\n}").encode()


def _token(value: Value) -> str:
    if isinstance(value, Raw):
        return value.text
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    return json.dumps(value, ensure_ascii=False)


def _with(template: Fields, overrides: Mapping[str, Value]) -> Fields:
    fields = dict(template)
    fields.update(overrides)
    return fields


# --- timestamps (the optional ``timestamp`` field) -------------------------------------


def epoch(moment: datetime) -> int:
    """Epoch seconds, as ``date +%s`` prints them."""
    return int(moment.timestamp())


def iso_utc(moment: datetime) -> str:
    """ISO 8601 in UTC with a ``Z``, as ``date -u +%Y-%m-%dT%H:%M:%SZ`` prints it."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def iso_offset(hours: int) -> Callable[[datetime], str]:
    """ISO 8601 in a local zone with its offset, as ``date --iso-8601=seconds`` prints it."""

    def stamp(moment: datetime) -> str:
        return moment.astimezone(timezone(timedelta(hours=hours))).isoformat(timespec="seconds")

    return stamp


# --- current client (2026): POST /telemetry -------------------------------------------

REPO: Fields = {"repo_source": "ProxmoxVE", "repo_slug": "community-scripts/ProxmoxVE"}

# Everything after ``status`` in a host-side event, in the client's order, with the
# values of the captured homeassistant install.
HOST_METADATA: Fields = {
    "ct_type": 1,
    "disk_size": 8,
    "core_count": 2,
    "ram_size": 2048,
    "os_type": "debian",
    "os_version": "12",
    "pve_version": "8.4.1",
    "method": "default",
    "exit_code": 0,
    "error": "",
    "error_category": "",
    "install_duration": 0,
    "cpu_vendor": "amd",
    "cpu_model": "AMD EPYC",
    "gpu_vendor": "unknown",
    "gpu_model": "",
    "gpu_passthrough": "unknown",
    "ram_speed": "",
    "arch": "amd64",
    "platform": "pve",
    "has_arm": False,
    **REPO,
}

# Groups of HOST_METADATA members, for a ``host_event`` with a shorter body.
CONTAINER_METADATA = (
    "ct_type",
    "disk_size",
    "core_count",
    "ram_size",
    "os_type",
    "os_version",
    "pve_version",
    "method",
)
PLATFORM_METADATA = ("arch", "platform", *REPO)


def host_event(
    random_id: str,
    status: str,
    *,
    nsapp: str,
    execution_id: str | None = None,
    metadata: Iterable[str] | None = None,
    **fields: Value,
) -> Fields:
    """A host-side event (installing, validation, configuring, terminal).

    It carries all of ``HOST_METADATA`` unless ``metadata`` names the members to keep
    (always in the client's order), for tests pinned to a shorter body.
    """
    head: Fields = {
        "random_id": random_id,
        "execution_id": execution_id or random_id,
        "type": "lxc",
        "nsapp": nsapp,
        "status": status,
    }
    if metadata is None:
        return _with(head | HOST_METADATA, fields)
    kept = set(metadata)
    unknown = kept - set(HOST_METADATA)
    assert not unknown, f"not host metadata: {sorted(unknown)}"
    return _with(head | {k: v for k, v in HOST_METADATA.items() if k in kept}, fields)


def container_ping(
    random_id: str,
    *,
    nsapp: str,
    execution_id: str | None = None,
    **fields: Value,
) -> Fields:
    """A ``configuring`` ping from inside the container: the minimal body only."""
    minimal: Fields = {
        "random_id": random_id,
        "execution_id": execution_id or random_id,
        "type": "lxc",
        "nsapp": nsapp,
        "status": "configuring",
        "platform": "pve",
        **REPO,
    }
    return _with(minimal, fields)


def payload_v2(**fields: Value) -> Fields:
    """The members payload v2 adds (``gpu_passthrough`` becomes yes/no there)."""
    added: Fields = {
        "payload_version": 2,
        "kernel_version": "6.8.12-4-pve",
        "gpu_passthrough": "no",
    }
    return added | fields


# --- previous client (2025 – Feb 2026): POST /upload, POST /upload/updatestatus -------


def upload_install(random_id: str, *, nsapp: str, **fields: Value) -> Fields:
    """``/upload``: the install report, numbers spliced unquoted."""
    body: Fields = {
        "ct_type": 1,
        "type": "lxc",
        "disk_size": 8,
        "core_count": 2,
        "ram_size": 2048,
        "os_type": "debian",
        "os_version": "12",
        "nsapp": nsapp,
        "method": "default",
        "pve_version": "8.4.1",
        "status": "installing",
        "random_id": random_id,
    }
    return _with(body, fields)


def upload_status(random_id: str, status: str, error: Value) -> Fields:
    """``/upload/updatestatus``: final status and explanation text, no exit code."""
    return {"status": status, "error": error, "random_id": random_id}


# --- the brief's API: POST /install, POST /update -------------------------------------


def seed_install(ctid: int, status: str, app: str, **fields: Value) -> Fields:
    """``post_to_api CTID STATUS APP_NAME`` (plus any install fields)."""
    head: Fields = {"ctid": ctid, "status": status, "app": app}
    return head | fields


def seed_update(ctid: int, app: str, version: str, **fields: Value) -> Fields:
    """``post_update_to_api CTID APP_NAME VERSION`` (status and/or exit code as fields)."""
    head: Fields = {"ctid": ctid, "app": app, "version": version}
    return head | fields
