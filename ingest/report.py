"""One validated, normalised report: what every endpoint turns its body into.

``build_report`` is a pure function of (source, raw fields, receive time), so the
writer can rebuild any stored event from its raw fields when a run must be re-merged,
and a changed normalisation rule can be replayed over the whole event log.
"""

from __future__ import annotations

import hashlib
import uuid
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson

from ingest import coerce
from ingest.coerce import Parser
from ingest.errors import ReportError
from ingest.exit_codes import category_for, infer_exit_code_from_text
from ingest.scrub import scrub_error_text
from ingest.statuses import (
    KNOWN_RAW_STATUSES,
    STATUS_PRIORITY,
    TERMINAL_STATUSES,
    Outcome,
    is_terminal,
    normalise_status,
    outcome_for,
)

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

# Rules of the text and integer fields, so that hot loops can check the common value
# inline and call the parser only for anything else.
_TEXT_RULES: dict[Parser, tuple[int, bool]] = {}  # parser -> (max_len, lower)
_INT_RANGES: dict[Parser, tuple[int, int]] = {}  # parser -> (low, high)


def _text(max_len: int, lower: bool = False) -> Parser:
    parse = coerce.text_parser(max_len, lower=lower)
    _TEXT_RULES[parse] = (max_len, lower)
    return parse


def _lower(max_len: int) -> Parser:
    return _text(max_len, lower=True)


def _int(low: int, high: int, unit_base: str | None = None) -> Parser:
    parse = coerce.int_parser(low, high, unit_base)
    _INT_RANGES[parse] = (low, high)
    return parse


_bool = coerce.parse_bool


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

    def __reduce__(self) -> tuple[type[Report], tuple[Any, ...]]:
        """Pickled as its fields in order (reports cross to the writer process by the
        thousand): a quarter cheaper than a slotted dataclass's generated state."""
        return (
            Report,
            (
                self.source, self.kind, self.run_id, self.random_id, self.execution_id,
                self.status_raw, self.status, self.received_at, self.client_time,
                self.event_time, self.raw, self.values, self.dedup_key, self.order_key,
            ),
        )  # fmt: skip

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
    stored, payload = _known_raw_fields(raw)
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
    timestamp = stored.get("timestamp")
    client_time = None if timestamp is None else coerce.as_timestamp("timestamp", timestamp)
    event_time = received_at if client_time is None or client_time > received_at else client_time
    run_id = f"update:{run_key}" if kind == "UPDATE" else run_key
    if payload is None:
        payload = _dedup_payload(stored)
    dedup_key = hashlib.sha256(f"{kind}|{run_id}|".encode() + payload).hexdigest()[:32]
    return Report(
        source,
        kind,
        run_id,
        random_id,
        execution_id,
        status_raw,
        status,
        received_at,
        client_time,
        event_time,
        stored,
        values,
        dedup_key,
        order_key(event_time, status, dedup_key),
    )


def order_key(event_time: datetime, status: str, dedup_key: str) -> str:
    """Total order of a run's events: event time, then status priority, then content.

    The time is the datetime's own fields as ``%Y-%m-%dT%H:%M:%S.%f`` (stored keys depend
    on it); %-formatting them is several times cheaper than strftime.
    """
    if event_time.year < 1000:  # strftime does not pad such years; keep its spelling
        return f"{event_time:%Y-%m-%dT%H:%M:%S.%f}|{STATUS_PRIORITY[status]}|{dedup_key}"
    return "%04d-%02d-%02dT%02d:%02d:%02d.%06d|%d|%s" % (  # noqa: UP031
        event_time.year,
        event_time.month,
        event_time.day,
        event_time.hour,
        event_time.minute,
        event_time.second,
        event_time.microsecond,
        STATUS_PRIORITY[status],
        dedup_key,
    )


def _dedup_payload(stored: dict[str, Any]) -> bytes:
    """The stored fields as canonical JSON: what the dedup key hashes (never change it)."""
    return orjson.dumps(stored, option=orjson.OPT_SORT_KEYS, default=str)


def _known_raw_fields(raw: Mapping[str, object]) -> tuple[dict[str, Any], bytes | None]:
    """Known fields as sent (unknown ones are dropped: they may hold anything), and their
    dedup payload when it is already final."""
    if KNOWN_KEYS.issuperset(raw):
        stored = dict(raw)
    else:
        stored = {key: value for key, value in raw.items() if key in KNOWN_KEYS}
    # PostgreSQL text cannot hold NUL; both stores get the same replacement character.
    # Identifiers keep theirs, so that they are refused as not printable. The canonical
    # JSON shows any NUL as \u0000, so it doubles as a scan of every value for one.
    try:
        payload: bytes | None = _dedup_payload(stored)
    except orjson.JSONEncodeError:
        payload = None  # raised again, after validation, where it always was
    if payload is None or b"\\u0000" in payload:
        payload = None
        for key, value in stored.items():
            if isinstance(value, str) and "\x00" in value and key not in IDENTITY_KEYS:
                stored[key] = value.replace("\x00", "\ufffd")
    error = stored.get("error")
    if isinstance(error, str) and error:
        scrubbed = scrub_error_text(error[:MAX_ERROR_CHARS])
        if scrubbed != error:
            stored["error"] = scrubbed
            payload = None
    return stored, payload


_IDENTIFIER_TEXT = coerce.text_parser(128)
_STATUS_TEXT = coerce.text_parser(32)
_ERROR_TEXT = coerce.text_parser(MAX_ERROR_CHARS)


def _identifier(name: str, value: object) -> str | None:
    if value is None:
        return None
    text = _IDENTIFIER_TEXT(name, value)
    if text is not None and not text.isprintable():
        raise ReportError("invalid_identifier", f"{name} must be printable text", name)
    return text


# FIELDS as flat tuples in its order, which decides the alias that wins and the bad
# field that is reported first. Text and integer fields carry their rules, so that a
# value that is already clean (the common case) is taken without calling its parser;
# only a column fed by several keys needs the "first one wins" check.
_FIELD_COUNT = Counter(column for column, _ in FIELDS.values())
_FIELD_SPECS = tuple(
    (
        key,
        column,
        *_TEXT_RULES.get(parse, (0, False)),
        *_INT_RANGES.get(parse, (1, 0)),  # an empty range for non-integer fields
        _FIELD_COUNT[column] > 1,
        parse,
    )
    for key, (column, parse) in FIELDS.items()
)


def _column_values(stored: Mapping[str, object]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    get = stored.get
    for key, column, max_len, lower, low, high, alias, parse in _FIELD_SPECS:
        raw = get(key)
        if raw is None:  # absent, or JSON null: every parser reads None as no value
            continue
        if max_len and type(raw) is str:
            text = raw.strip()
            if 0 < len(text) <= max_len:
                if not alias or column not in values:
                    values[column] = text.lower() if lower else text
                continue
            # empty (None) or too long (the parser's error): the parser says
        elif type(raw) is int and low <= raw <= high:
            if not alias or column not in values:
                values[column] = raw
            continue
        value = parse(key, raw)
        if value is not None and column not in values:
            values[column] = value
    return values


# Raw statuses exactly as clients spell them -> canonical status, looked up in one step.
_EXACT_STATUSES = {raw: normalise_status(raw) for raw in KNOWN_RAW_STATUSES}


def _status(stored: Mapping[str, object], values: dict[str, Any], kind: str) -> tuple[str, str]:
    sent = stored.get("status")
    if type(sent) is str and (known := _EXACT_STATUSES.get(sent)) is not None:
        return sent, known
    raw_status = _STATUS_TEXT("status", sent)
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
    raw_error = stored.get("error")
    error = None if raw_error is None else _ERROR_TEXT("error", raw_error)
    # The previous client sends "Unknown error" even with "done": a success has no error
    # (the text stays in the stored event).
    if error is not None and status != "success":
        values["error"] = error
    if status == "success" or status not in TERMINAL_STATUSES:
        return  # neither inference nor a category applies
    if values.get("exit_code") is None and status == "failed":
        inferred = infer_exit_code_from_text(error)
        if inferred is not None:
            values["exit_code"] = inferred
            values["exit_code_inferred"] = True
    if values.get("error_category") is None:
        category = category_for(values.get("exit_code"))
        if category is not None:
            values["error_category"] = category
