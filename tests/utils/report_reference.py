"""The straightforward report builder that ``ingest.report`` replaced with fast paths.

Kept as the executable specification: ``tests/test_report_fast_paths.py`` checks that
the fast builder gives the same Report (fields, values, dedup and order keys) or the
same ReportError (code, message, field) for many generated bodies. Every value goes
through the general parsers of ``ingest.coerce`` here, one field at a time, and the
error text is scrubbed by the rule passes without any pre-check.
"""

from __future__ import annotations

import hashlib
import ipaddress
import re
import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import orjson

from ingest import coerce, scrub
from ingest.errors import ReportError
from ingest.exit_codes import category_for, infer_exit_code_from_text
from ingest.report import (
    FIELDS,
    IDENTITY_KEYS,
    KNOWN_KEYS,
    MAX_ERROR_CHARS,
    SOURCES,
    UPDATE_SOURCES,
    Report,
)
from ingest.statuses import STATUS_PRIORITY, is_terminal, normalise_status

# The rules of each FIELDS entry, spelled out: (kind, limits).
TEXT_LIMITS: dict[str, tuple[int, bool]] = {
    "nsapp": (100, True),
    "app": (100, True),
    "app_name": (100, True),
    "type": (32, True),
    "os_type": (64, True),
    "os_version": (64, False),
    "pve_version": (64, False),
    "method": (64, True),
    "cpu_vendor": (64, True),
    "cpu_model": (200, False),
    "gpu_vendor": (64, True),
    "gpu_model": (200, False),
    "gpu_passthrough": (32, True),
    "ram_speed": (32, False),
    "arch": (32, True),
    "platform": (32, True),
    "repo_source": (64, False),
    "repo_slug": (200, False),
    "kernel_version": (100, False),
    "app_version": (100, False),
    "version": (100, False),
    "disableip6": (16, True),
    "error_category": (32, True),
    "failed_command": (2000, False),
}
INT_RULES: dict[str, tuple[int, int, str | None]] = {
    "ctid": (100, 999_999_999, None),
    "ct_type": (0, 2, None),
    "disk_size": (0, 1_048_576, "g"),
    "core_count": (0, 4096, "count"),
    "ram_size": (0, 16 * 1024 * 1024, "m"),
    "payload_version": (1, 1000, None),
    "exit_code": (0, 255, None),
    "install_duration": (0, 86_400, None),
    "duration": (0, 86_400, None),
    "failed_line": (0, 10_000_000, None),
}
BOOL_KEYS = frozenset({"has_arm"})


def _parse(key: str, value: object) -> object:
    if key in TEXT_LIMITS:
        max_len, lower = TEXT_LIMITS[key]
        text = coerce.as_text(key, value, max_len)
        return text.lower() if lower and text is not None else text
    if key in INT_RULES:
        low, high, unit_base = INT_RULES[key]
        return coerce.as_int(key, value, low, high, unit_base)
    assert key in BOOL_KEYS, key
    return coerce.as_bool(key, value)


def _mask_ipv6(match: re.Match[str]) -> str:
    token = match[0]
    candidate = token.rstrip(".")
    if not any(ch not in ":." for ch in candidate):
        return token
    try:
        ipaddress.IPv6Address(candidate)
    except ValueError:
        return token
    return scrub.IPV6_MASK + token[len(candidate) :]


def scrub_error_text(text: str) -> str:
    """``ingest.scrub.scrub_error_text`` with only the original substring pre-checks."""
    for _ in range(8):
        scrubbed = text
        if "/home/" in scrubbed or "/Users/" in scrubbed:
            scrubbed = scrub._HOME_RE.sub(scrub._mask_home, scrubbed)
        if "://" in scrubbed:
            scrubbed = scrub._URL_RE.sub(scrub._mask_url, scrubbed)
        if ":" in scrubbed or "-" in scrubbed:
            scrubbed = scrub._MAC_RE.sub(scrub.MAC_MASK, scrubbed)
        if ":" in scrubbed:
            scrubbed = scrub._IPV6_CANDIDATE_RE.sub(_mask_ipv6, scrubbed)
        if "." in scrubbed:
            scrubbed = scrub._IPV4_RE.sub(scrub.IPV4_MASK, scrubbed)
        if "@" in scrubbed:
            scrubbed = scrub._EMAIL_RE.sub(scrub.EMAIL_MASK, scrubbed)
        if scrubbed == text:
            break
        text = scrubbed
    return text


def build_report(
    source: str,
    raw: Mapping[str, object],
    received_at: datetime,
    assigned_run_id: str | None = None,
) -> Report:
    if source not in SOURCES:
        raise ValueError(f"unknown source {source!r}")
    kind = "UPDATE" if source in UPDATE_SOURCES else "INSTALL"
    stored: dict[str, Any] = {
        key: value.replace("\x00", "\ufffd")
        if isinstance(value, str) and key not in IDENTITY_KEYS
        else value
        for key, value in raw.items()
        if key in KNOWN_KEYS
    }
    error_raw = stored.get("error")
    if isinstance(error_raw, str):
        stored["error"] = scrub_error_text(error_raw[:MAX_ERROR_CHARS])
    random_id = _identifier("random_id", stored.get("random_id"))
    execution_id = _identifier("execution_id", stored.get("execution_id"))
    run_key = execution_id or random_id
    if run_key is None:
        if kind == "INSTALL":
            raise ReportError(
                "missing_field", "random_id (or execution_id) is required", "random_id"
            )
        run_key = assigned_run_id or str(uuid.uuid4())
    values: dict[str, Any] = {}
    for key, (column, _) in FIELDS.items():
        if key not in stored:
            continue
        value = _parse(key, stored[key])
        if value is not None and column not in values:
            values[column] = value
    if values.get("app") is None and source != "upload/updatestatus":
        raise ReportError("missing_field", "nsapp (the app slug) is required", "nsapp")
    status_raw, status = _status(stored, values, kind)
    error = coerce.as_text("error", stored.get("error"), MAX_ERROR_CHARS)
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
    client_time = coerce.as_timestamp("timestamp", stored.get("timestamp"))
    event_time = received_at if client_time is None or client_time > received_at else client_time
    run_id = f"update:{run_key}" if kind == "UPDATE" else run_key
    payload = orjson.dumps(stored, option=orjson.OPT_SORT_KEYS, default=str)
    dedup_key = hashlib.sha256(f"{kind}|{run_id}|".encode() + payload).hexdigest()[:32]
    order_key = f"{event_time:%Y-%m-%dT%H:%M:%S.%f}|{STATUS_PRIORITY[status]}|{dedup_key}"
    return Report(
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
        dedup_key=dedup_key,
        order_key=order_key,
    )


def _identifier(name: str, value: object) -> str | None:
    text = coerce.as_text(name, value, 128)
    if text is not None and not text.isprintable():
        raise ReportError("invalid_identifier", f"{name} must be printable text", name)
    return text


def _status(stored: Mapping[str, object], values: dict[str, Any], kind: str) -> tuple[str, str]:
    raw_status = coerce.as_text("status", stored.get("status"), 32)
    if raw_status is None:
        exit_code = values.get("exit_code")
        if kind == "UPDATE" and exit_code is not None:
            return "", "success" if exit_code == 0 else "failed"
        raise ReportError("missing_field", "status is required", "status")
    status = normalise_status(raw_status)
    if status is None:
        raise ReportError(
            "unknown_status", f"status {raw_status[:32]!r} is not a known status", "status"
        )
    return raw_status, status
