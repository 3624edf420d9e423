"""Lenient scalar coercion for values that bash puts in JSON.

Bash clients splice shell variables into JSON, so numbers arrive as ``8``, ``"8"``,
``"8G"`` or nothing at all, and booleans as ``true``, ``"yes"`` or ``1``. Each function
returns None for "no value" and raises ReportError naming the field when a value is
present but unusable.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from datetime import UTC, datetime

from ingest.errors import ReportError

_NUMBER_WITH_UNIT = re.compile(r"^\s*(-?\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$")

# Multipliers to MiB; disk sizes are converted to GiB by dividing by 1024.
_UNIT_TO_MIB = {
    "": None,
    "k": 1 / 1024,
    "kb": 1 / 1024,
    "kib": 1 / 1024,
    "m": 1.0,
    "mb": 1.0,
    "mib": 1.0,
    "g": 1024.0,
    "gb": 1024.0,
    "gib": 1024.0,
    "t": 1024.0**2,
    "tb": 1024.0**2,
    "tib": 1024.0**2,
}


def _shown(value: object) -> str:
    """A bad value as quoted in an error message, cut short: bodies can be 256 KiB."""
    text = repr(value)
    return text if len(text) <= 40 else f"{text[:40]}…"


def is_empty(value: object) -> bool:
    return value is None or (isinstance(value, str) and value.strip() == "")


def as_text(field: str, value: object, max_len: int) -> str | None:
    """A trimmed string; numbers and booleans are accepted as their text."""
    if is_empty(value):
        return None
    if isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, (int, float, str)):
        text = str(value).strip()
    else:
        raise ReportError("invalid_type", f"{field} must be a string", field)
    if len(text) > max_len:
        raise ReportError("too_long", f"{field} is longer than {max_len} characters", field)
    return text


def as_int(
    field: str, value: object, low: int, high: int, unit_base: str | None = None
) -> int | None:
    """An integer within [low, high].

    ``unit_base`` "m" or "g" converts size units ("8G" GiB, "512M" MiB) to that base;
    "count" drops a stray size letter, because the previous client splices the same
    shell variable style into core_count ("2G" means 2 cores).
    """
    if is_empty(value):
        return None
    if isinstance(value, bool):
        raise ReportError("invalid_type", f"{field} must be a number, got a boolean", field)
    if isinstance(value, int):
        number = float(value)
    elif isinstance(value, float):
        number = value
    elif isinstance(value, str):
        number = _parse_number_text(field, value, unit_base)
    else:
        raise ReportError("invalid_type", f"{field} must be a number", field)
    if math.isnan(number) or math.isinf(number):
        raise ReportError("invalid_number", f"{field} must be a finite number", field)
    result = round(number)
    if not low <= result <= high:
        raise ReportError(
            "out_of_range", f"{field} must be between {low} and {high}, got {_shown(value)}", field
        )
    return result


Parser = Callable[[str, object], object]
"""(field name, raw value) -> the column value, or None for "no value"."""
TextParser = Callable[[str, object], str | None]


def text_parser(max_len: int, *, lower: bool = False) -> TextParser:
    """``as_text`` (lower-cased when asked) with an exact ``str`` handled inline.

    Reports are almost all strings of the right length, so the common case costs one
    call; anything else takes ``as_text`` and gets exactly its answer or error.
    """

    def parse(field: str, value: object) -> str | None:
        if type(value) is not str:
            text = as_text(field, value, max_len)
        else:
            text = value.strip()
            if len(text) > max_len:
                raise ReportError("too_long", f"{field} is longer than {max_len} characters", field)
        if not text:
            return None
        return text.lower() if lower else text

    return parse


def int_parser(low: int, high: int, unit_base: str | None = None) -> Parser:
    """``as_int`` with an in-range ``int`` (or plain ASCII digits) handled inline."""

    def parse(field: str, value: object) -> object:
        if type(value) is int:
            if low <= value <= high:
                return value
        elif type(value) is str and len(value) <= 10 and value.isascii() and value.isdigit():
            number = int(value)
            if low <= number <= high:
                return number
        return as_int(field, value, low, high, unit_base)

    return parse


def parse_bool(field: str, value: object) -> object:
    """``as_bool`` with a real boolean handled inline."""
    if type(value) is bool:
        return value
    return as_bool(field, value)


def _parse_number_text(field: str, text: str, unit_base: str | None) -> float:
    match = _NUMBER_WITH_UNIT.match(text)
    if match is None:
        raise ReportError("invalid_number", f"{field} must be a number, got {text[:40]!r}", field)
    number = float(match.group(1))
    unit = match.group(2).lower()
    if not unit:
        return number
    if unit_base is None or unit not in _UNIT_TO_MIB:
        raise ReportError("invalid_number", f"{field} has an unknown unit {unit!r}", field)
    if unit_base == "count":
        return number
    mib = number * (_UNIT_TO_MIB[unit] or 1.0)
    return mib if unit_base == "m" else mib / 1024


_TRUE = {"true", "yes", "1", "y", "on"}
_FALSE = {"false", "no", "0", "n", "off"}


def as_bool(field: str, value: object) -> bool | None:
    if is_empty(value):
        return None
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        lowered = value.strip().lower()
        if lowered in _TRUE:
            return True
        if lowered in _FALSE:
            return False
    raise ReportError("invalid_type", f"{field} must be a boolean, got {_shown(value)}", field)


# Epoch seconds before 2020 or ISO dates before then are certainly wrong clocks.
_EARLIEST = datetime(2020, 1, 1, tzinfo=UTC)
# Larger epoch values are milliseconds (`date +%s%3N`): seconds would be past year 5000.
_EPOCH_MILLIS_FROM = 100_000_000_000


def as_timestamp(field: str, value: object) -> datetime | None:
    """ISO 8601 (naive means UTC) or epoch seconds, as an aware UTC datetime."""
    if is_empty(value):
        return None
    if isinstance(value, bool):
        raise ReportError("invalid_timestamp", f"{field} must be ISO 8601 or epoch seconds", field)
    moment: datetime
    try:
        if isinstance(value, (int, float)) or (
            isinstance(value, str) and value.strip().replace(".", "", 1).isdigit()
        ):
            seconds = float(value)
            if seconds >= _EPOCH_MILLIS_FROM:
                seconds /= 1000
            moment = datetime.fromtimestamp(seconds, tz=UTC)
        elif isinstance(value, str):
            moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
            if moment.tzinfo is None:
                moment = moment.replace(tzinfo=UTC)
            moment = moment.astimezone(UTC)
        else:
            raise ValueError(value)
    except (ValueError, OverflowError, OSError) as exc:
        raise ReportError(
            "invalid_timestamp",
            f"{field} must be ISO 8601 or epoch seconds, got {_shown(value)}",
            field,
        ) from exc
    if moment < _EARLIEST:
        raise ReportError("out_of_range", f"{field} is before 2020-01-01", field)
    return moment
