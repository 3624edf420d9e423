"""The straightforward report builder that ``ingest.report`` replaced with fast paths.

Kept as the executable specification: ``tests/test_report_fast_paths.py`` checks that
the fast builder gives the same Report (fields, values, dedup and order keys) or the
same ReportError (code, message, field) for many generated bodies. It shares no code
with ``ingest.coerce``, ``ingest.scrub`` or ``ingest.statuses``: each value is parsed,
each error text scrubbed and each status normalised by the small, plain rules below,
so that a change in any of those modules shows as a disagreement instead of cancelling
out (mutation/ relies on it).
"""

from __future__ import annotations

import hashlib
import ipaddress
import math
import re
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import orjson

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

# -- statuses ----------------------------------------------------------------------------

PROGRESS = frozenset({"installing", "validation", "configuring", "updating"})
TERMINAL = frozenset({"success", "failed", "aborted", "unknown"})
ALIASES = {"done": "success", "sucess": "success", "successful": "success"}
# Tie-break order at equal event times: progress first, then unknown, success, failure.
PRIORITY = {
    "installing": 0,
    "updating": 0,
    "validation": 1,
    "configuring": 2,
    "unknown": 3,
    "success": 4,
    "failed": 5,
    "aborted": 6,
}


def normalise_status(raw: str) -> str | None:
    word = ALIASES.get(raw.strip().lower(), raw.strip().lower())
    return word if word in PROGRESS or word in TERMINAL else None


# -- values ------------------------------------------------------------------------------

# Size units in MiB: k, m, g, t, each also spelled with "b" and "ib" (any case).
UNIT_MIB = {
    prefix + suffix: 1024.0**power
    for prefix, power in (("k", -1), ("m", 0), ("g", 1), ("t", 2))
    for suffix in ("", "b", "ib")
}
NUMBER_WITH_UNIT = re.compile(r"\s*(-?\d+(?:\.\d+)?)\s*([A-Za-z]*)\s*")
TRUE_WORDS = ("true", "yes", "1", "y", "on")
FALSE_WORDS = ("false", "no", "0", "n", "off")
EARLIEST = datetime(2020, 1, 1, tzinfo=UTC)


def _shown(value: object) -> str:
    text = repr(value)
    return text[:40] + "…" if len(text) > 40 else text


def _empty(value: object) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def as_text(field: str, value: object, max_len: int) -> str | None:
    if _empty(value):
        return None
    if value is True or value is False:
        text = str(value).lower()
    elif isinstance(value, (int, float, str)):
        text = str(value).strip()
    else:
        raise ReportError("invalid_type", f"{field} must be a string", field)
    if len(text) > max_len:
        raise ReportError("too_long", f"{field} is longer than {max_len} characters", field)
    return text


def as_int(field: str, value: object, low: int, high: int, unit_base: str | None) -> int | None:
    if _empty(value):
        return None
    if value is True or value is False:
        raise ReportError("invalid_type", f"{field} must be a number, got a boolean", field)
    if isinstance(value, (int, float)):
        number = float(value)
    elif isinstance(value, str):
        match = NUMBER_WITH_UNIT.fullmatch(value)
        if match is None:
            raise ReportError(
                "invalid_number", f"{field} must be a number, got {value[:40]!r}", field
            )
        number, unit = float(match[1]), match[2].lower()
        if unit and (unit_base is None or unit not in UNIT_MIB):
            raise ReportError("invalid_number", f"{field} has an unknown unit {unit!r}", field)
        if unit and unit_base in ("m", "g"):
            mib = number * UNIT_MIB[unit]
            number = mib if unit_base == "m" else mib / 1024
    else:
        raise ReportError("invalid_type", f"{field} must be a number", field)
    if not math.isfinite(number):
        raise ReportError("invalid_number", f"{field} must be a finite number", field)
    whole = round(number)
    if whole < low or whole > high:
        raise ReportError(
            "out_of_range", f"{field} must be between {low} and {high}, got {_shown(value)}", field
        )
    return whole


def as_bool(field: str, value: object) -> bool | None:
    if _empty(value):
        return None
    if value is True or value is False:
        return value
    if type(value) is int and value in (0, 1):
        return value == 1
    word = value.strip().lower() if isinstance(value, str) else None
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    raise ReportError("invalid_type", f"{field} must be a boolean, got {_shown(value)}", field)


def as_timestamp(field: str, value: object) -> datetime | None:
    """ISO 8601 (naive is UTC), or epoch seconds (milliseconds from 10^11 on)."""
    if _empty(value):
        return None
    if value is True or value is False:
        raise ReportError("invalid_timestamp", f"{field} must be ISO 8601 or epoch seconds", field)
    bad = ReportError(
        "invalid_timestamp",
        f"{field} must be ISO 8601 or epoch seconds, got {_shown(value)}",
        field,
    )
    epoch = isinstance(value, (int, float)) or (
        isinstance(value, str) and value.strip().count(".") <= 1
        and value.strip().replace(".", "").isdigit()
    )  # fmt: skip
    try:
        if epoch:
            seconds = float(value)  # type: ignore[arg-type]
            if seconds >= 1e11:
                seconds = seconds / 1000
            moment = datetime.fromtimestamp(seconds, tz=UTC)
        elif isinstance(value, str):
            moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
            moment = moment.replace(tzinfo=moment.tzinfo or UTC).astimezone(UTC)
        else:
            raise bad
    except (ValueError, OverflowError, OSError) as exc:
        raise bad from exc
    if moment < EARLIEST:
        raise ReportError("out_of_range", f"{field} is before 2020-01-01", field)
    return moment


def _parse(key: str, value: object) -> object:
    if key in TEXT_LIMITS:
        max_len, lower = TEXT_LIMITS[key]
        text = as_text(key, value, max_len)
        return text.lower() if lower and text is not None else text
    if key in INT_RULES:
        low, high, unit_base = INT_RULES[key]
        return as_int(key, value, low, high, unit_base)
    assert key in BOOL_KEYS, key
    return as_bool(key, value)


# -- scrubbing ---------------------------------------------------------------------------

PUBLIC_HOSTS = frozenset(
    {
        "github.com",
        "raw.githubusercontent.com",
        "deb.debian.org",
        "security.debian.org",
        "archive.ubuntu.com",
        "dl-cdn.alpinelinux.org",
        "registry.npmjs.org",
        "pypi.org",
        "files.pythonhosted.org",
        "download.docker.com",
        "community-scripts.org",
        "proxmox.com",
    }
)
PUBLIC_DOMAINS = ("community-scripts.org", "proxmox.com")  # and their subdomains

HOME = re.compile(r"(/home/|/Users/)[^/\s'\"`:;,()\[\]{}<>|&=*?$]+")
URL = re.compile(
    r"(?<![A-Za-z0-9+.-])([A-Za-z][A-Za-z0-9+.-]*://)([^\s/@?#]*@)?(<host>|\[[^\]\s/]*\]|[\w.%-]+)"
)
HEX = "[0-9A-Fa-f]"
MAC = re.compile(
    rf"(?<!\w)(?<!{HEX}[:-]){HEX}{HEX}(?P<sep>[:-]){HEX}{HEX}(?:(?P=sep){HEX}{HEX}){{4}}"
    rf"(?!\w|[:-]{HEX})"
)
IPV6_TOKEN = re.compile(r"(?<![\w:.])(?=[0-9A-Fa-f]{0,4}:)[0-9A-Fa-f:.]{2,45}(?![\w:.])")
# Four dotted digit runs that are not part of a longer dotted run; each part checked below.
IPV4_TOKEN = re.compile(r"(?<!\d)(?<!\d\.)(\d+)\.(\d+)\.(\d+)\.(\d+)(?!\d|\.\d)")
EMAIL = re.compile(r"(?<![\w.+-])[\w.+-]+@(?:[\w-]+\.)+[A-Za-z][\w-]*")


def _is_ipv4(match: re.Match[str]) -> bool:
    return all(len(part) <= 3 and int(part) <= 255 for part in match.groups())


def _public(host: str) -> bool:
    name = host.rstrip(".").lower()
    return name in PUBLIC_HOSTS or any(name.endswith("." + domain) for domain in PUBLIC_DOMAINS)


def _url(match: re.Match[str]) -> str:
    scheme, userinfo, host = match.groups()
    user = "" if userinfo is None else "<user>@"
    whole_ipv4 = IPV4_TOKEN.fullmatch(host)
    if (
        host in ("<host>", "x.x.x.x")
        or host.startswith("[")
        or (whole_ipv4 is not None and _is_ipv4(whole_ipv4))
        or _public(host)
    ):
        return scheme + user + host
    name = host.rstrip(".")
    return scheme + user + "<host>" + host[len(name) :]


def _ipv6(match: re.Match[str]) -> str:
    token = match[0]
    address = token.rstrip(".")
    if set(address) <= {":", "."}:
        return token
    try:
        ipaddress.IPv6Address(address)
    except ValueError:
        return token
    return "<ipv6>" + token[len(address) :]


def _ipv4(match: re.Match[str]) -> str:
    return "x.x.x.x" if _is_ipv4(match) else match[0]


def scrub_error_text(text: str) -> str:
    """Every rule in its order on every pass, until a pass changes nothing (8 at most)."""
    for _ in range(8):
        scrubbed = HOME.sub(lambda m: m[1] + "<user>", text)
        scrubbed = URL.sub(_url, scrubbed)
        scrubbed = MAC.sub("<mac>", scrubbed)
        scrubbed = IPV6_TOKEN.sub(_ipv6, scrubbed)
        scrubbed = IPV4_TOKEN.sub(_ipv4, scrubbed)
        scrubbed = EMAIL.sub("<email>", scrubbed)
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
    error = as_text("error", stored.get("error"), MAX_ERROR_CHARS)
    if error is not None and status != "success":
        values["error"] = error
    if values.get("exit_code") is None and status == "failed":
        inferred = infer_exit_code_from_text(error)
        if inferred is not None:
            values["exit_code"] = inferred
            values["exit_code_inferred"] = True
    if values.get("error_category") is None and status in TERMINAL and status != "success":
        category = category_for(values.get("exit_code"))
        if category is not None:
            values["error_category"] = category
    client_time = as_timestamp("timestamp", stored.get("timestamp"))
    event_time = received_at if client_time is None or client_time > received_at else client_time
    run_id = f"update:{run_key}" if kind == "UPDATE" else run_key
    payload = orjson.dumps(stored, option=orjson.OPT_SORT_KEYS, default=str)
    dedup_key = hashlib.sha256(f"{kind}|{run_id}|".encode() + payload).hexdigest()[:32]
    order_key = f"{event_time:%Y-%m-%dT%H:%M:%S.%f}|{PRIORITY[status]}|{dedup_key}"
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
    text = as_text(name, value, 128)
    if text is not None and not text.isprintable():
        raise ReportError("invalid_identifier", f"{name} must be printable text", name)
    return text


def _status(stored: Mapping[str, object], values: dict[str, Any], kind: str) -> tuple[str, str]:
    raw_status = as_text("status", stored.get("status"), 32)
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
