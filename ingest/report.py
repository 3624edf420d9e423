"""One validated, normalised report: what every endpoint turns its body into.

``build_report`` is a pure function of (source, raw fields, receive time), so the
writer can rebuild any stored event from its raw fields when a run must be re-merged,
and a changed normalisation rule can be replayed over the whole event log.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson

from ingest import coerce
from ingest.errors import ReportError
from ingest.exit_codes import category_for, infer_exit_code_from_text
from ingest.scrub import scrub_error_text
from ingest.statuses import STATUS_PRIORITY, Outcome, is_terminal, normalise_status, outcome_for

SOURCES = frozenset(
    {
        "telemetry",
        "upload",
        "upload/updatestatus",
        "install",
        "update",
        "graphql:install",
        "graphql:update",
    }
)
UPDATE_SOURCES = frozenset({"update", "graphql:update"})

Parser = Callable[[str, object], object]


def _text(max_len: int) -> Parser:
    return lambda name, value: coerce.as_text(name, value, max_len)


def _lower(max_len: int) -> Parser:
    def parse(name: str, value: object) -> object:
        text = coerce.as_text(name, value, max_len)
        return None if text is None else text.lower()

    return parse


def _int(low: int, high: int, unit_base: str | None = None) -> Parser:
    return lambda name, value: coerce.as_int(name, value, low, high, unit_base)


def _bool(name: str, value: object) -> object:
    return coerce.as_bool(name, value)


# raw key -> (run column, parser). Several keys may feed one column (aliases of the
# brief's /install and /update API); the first non-empty one in this order wins.
FIELDS: dict[str, tuple[str, Parser]] = {
    "nsapp": ("app", _lower(100)),
    "app": ("app", _lower(100)),
    "app_name": ("app", _lower(100)),
    "type": ("type", _lower(32)),
    "ctid": ("container_id", _int(100, 999_999_999)),
    "ct_type": ("ct_type", _int(0, 2)),
    "disk_size": ("disk_gb", _int(0, 1_048_576, "g")),
    "core_count": ("cores", _int(0, 4096, "count")),
    "ram_size": ("ram_mb", _int(0, 16 * 1024 * 1024, "m")),
    "os_type": ("os_type", _lower(64)),
    "os_version": ("os_version", _text(64)),
    "pve_version": ("pve_version", _text(64)),
    "method": ("method", _lower(64)),
    "cpu_vendor": ("cpu_vendor", _lower(64)),
    "cpu_model": ("cpu_model", _text(200)),
    "gpu_vendor": ("gpu_vendor", _lower(64)),
    "gpu_model": ("gpu_model", _text(200)),
    "gpu_passthrough": ("gpu_passthrough", _lower(32)),
    "ram_speed": ("ram_speed", _text(32)),
    "arch": ("arch", _lower(32)),
    "platform": ("platform", _lower(32)),
    "has_arm": ("has_arm", _bool),
    "repo_source": ("repo_source", _text(64)),
    "repo_slug": ("repo_slug", _text(200)),
    "payload_version": ("payload_version", _int(1, 1000)),
    "kernel_version": ("kernel_version", _text(100)),
    "app_version": ("app_version", _text(100)),
    "version": ("app_version", _text(100)),
    "disableip6": ("disableip6", _lower(16)),
    # Result fields: only a terminal report's values describe the run's result.
    "exit_code": ("exit_code", _int(0, 255)),
    "error_category": ("error_category", _lower(32)),
    "install_duration": ("duration_seconds", _int(0, 86_400)),
    "duration": ("duration_seconds", _int(0, 86_400)),
    "failed_command": ("failed_command", _text(2000)),
    "failed_line": ("failed_line", _int(0, 10_000_000)),
}
IDENTITY_KEYS = ("random_id", "execution_id")
OTHER_KEYS = ("status", "error", "timestamp")
KNOWN_KEYS = frozenset(FIELDS) | frozenset(IDENTITY_KEYS) | frozenset(OTHER_KEYS)

RESULT_COLUMNS = frozenset(
    {
        "exit_code",
        "exit_code_inferred",
        "error",
        "error_category",
        "failed_command",
        "failed_line",
        "duration_seconds",
    }
)
MAX_ERROR_CHARS = 128 * 1024


@dataclass(slots=True)
class Report:
    source: str
    kind: str  # "INSTALL" or "UPDATE"
    run_id: str
    random_id: str | None
    execution_id: str | None
    status_raw: str
    status: str
    received_at: datetime
    client_time: datetime | None
    event_time: datetime
    raw: dict[str, Any]
    values: dict[str, Any] = field(default_factory=dict)
    dedup_key: str = ""
    order_key: str = ""

    @property
    def terminal(self) -> bool:
        return is_terminal(self.status)

    @property
    def outcome(self) -> Outcome:
        return outcome_for(self.status, self.values.get("exit_code"))


def build_report(
    source: str,
    raw: Mapping[str, object],
    received_at: datetime,
    assigned_run_id: str | None = None,
) -> Report:
    """Validate and normalise one report body; raise ReportError naming the bad field."""
    if source not in SOURCES:
        raise ValueError(f"unknown source {source!r}")
    kind = "UPDATE" if source in UPDATE_SOURCES else "INSTALL"
    stored = _known_raw_fields(raw)
    random_id = _identifier("random_id", stored.get("random_id"))
    execution_id = _identifier("execution_id", stored.get("execution_id"))
    run_key = execution_id or random_id
    if run_key is None:
        if kind == "INSTALL":
            raise ReportError(
                "missing_field", "random_id (or execution_id) is required", "random_id"
            )
        run_key = assigned_run_id or str(uuid.uuid4())
    values = _column_values(stored)
    if values.get("app") is None and source != "upload/updatestatus":
        raise ReportError("missing_field", "nsapp (the app slug) is required", "nsapp")
    status_raw, status = _status(stored, values, kind)
    _apply_error(stored, values, status)
    client_time = coerce.as_timestamp("timestamp", stored.get("timestamp"))
    event_time = received_at if client_time is None or client_time > received_at else client_time
    run_id = f"update:{run_key}" if kind == "UPDATE" else run_key
    report = Report(
        source=source,
        kind=kind,
        run_id=run_id,
        random_id=random_id,
        execution_id=execution_id,
        status_raw=status_raw,
        status=status,
        received_at=received_at,
        client_time=client_time,
        event_time=event_time,
        raw=stored,
        values=values,
    )
    report.dedup_key = _dedup_key(report)
    report.order_key = order_key(event_time, status, report.dedup_key)
    return report


def order_key(event_time: datetime, status: str, dedup_key: str) -> str:
    """Total order of a run's events: event time, then status priority, then content."""
    return f"{event_time:%Y-%m-%dT%H:%M:%S.%f}|{STATUS_PRIORITY[status]}|{dedup_key}"


def _known_raw_fields(raw: Mapping[str, object]) -> dict[str, Any]:
    """Known fields as sent (unknown ones are dropped: they may hold anything)."""
    # PostgreSQL text cannot hold NUL; both stores get the same replacement character.
    # Identifiers keep theirs, so that they are refused as not printable.
    stored = {
        key: value.replace("\x00", "\ufffd")
        if isinstance(value, str) and key not in IDENTITY_KEYS
        else value
        for key, value in raw.items()
        if key in KNOWN_KEYS
    }
    error = stored.get("error")
    if isinstance(error, str):
        stored["error"] = scrub_error_text(error[:MAX_ERROR_CHARS])
    return stored


def _identifier(name: str, value: object) -> str | None:
    text = coerce.as_text(name, value, 128)
    if text is not None and not text.isprintable():
        raise ReportError("invalid_identifier", f"{name} must be printable text", name)
    return text


def _column_values(stored: Mapping[str, object]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for key, (column, parse) in FIELDS.items():
        if key not in stored:
            continue
        value = parse(key, stored[key])
        if value is not None and column not in values:
            values[column] = value
    return values


def _status(stored: Mapping[str, object], values: dict[str, Any], kind: str) -> tuple[str, str]:
    raw_status = coerce.as_text("status", stored.get("status"), 32)
    if raw_status is None:
        exit_code = values.get("exit_code")
        if kind == "UPDATE" and exit_code is not None:
            # The brief's update API reports "status/exit code": an exit code alone is
            # a finished update.
            return "", "success" if exit_code == 0 else "failed"
        raise ReportError("missing_field", "status is required", "status")
    status = normalise_status(raw_status)
    if status is None:
        raise ReportError(
            "unknown_status", f"status {raw_status[:32]!r} is not a known status", "status"
        )
    return raw_status, status


def _apply_error(stored: Mapping[str, object], values: dict[str, Any], status: str) -> None:
    """Error text, and the exit code the previous client only sends as text."""
    error = coerce.as_text("error", stored.get("error"), MAX_ERROR_CHARS)
    # The previous client sends "Unknown error" even with "done": a success has no error
    # (the text stays in the stored event).
    if error is not None and status != "success":
        values["error"] = error
    if values.get("exit_code") is None and status == "failed":
        inferred = infer_exit_code_from_text(error)
        if inferred is not None:
            values["exit_code"] = inferred
            values["exit_code_inferred"] = True
    if values.get("error_category") is None and is_terminal(status) and status != "success":
        category = category_for(values.get("exit_code"))
        if category is not None:
            values["error_category"] = category


def _dedup_key(report: Report) -> str:
    payload = orjson.dumps(report.raw, option=orjson.OPT_SORT_KEYS, default=str)
    digest = hashlib.sha256(f"{report.kind}|{report.run_id}|".encode() + payload)
    return digest.hexdigest()[:32]
