"""Read report bodies as JSON objects, salvaging the broken JSON that bash clients send.

The installer scripts build their JSON with heredocs and variable splicing, so
a real body can be invalid JSON while its meaning is still clear. Valid bodies
take a single ``orjson.loads`` call; only invalid ones go through the
hand-written scanner below, which accepts one flat object and a short list of
known client mistakes (see ``_Scanner``) and rejects everything else with the
character offset of the problem. Offsets count characters of the body decoded
as UTF-8, including a leading byte order mark if there is one.
"""

from __future__ import annotations

import re
from typing import Final

import orjson

__all__ = ["BodyError", "parse_report_body"]

_WHITESPACE: Final = frozenset(" \t\r\n")
_SIMPLE_ESCAPES: Final[dict[str, str]] = {
    '"': '"',
    "\\": "\\",
    "/": "/",
    "b": "\b",
    "f": "\f",
    "n": "\n",
    "r": "\r",
    "t": "\t",
}
_HEX_DIGITS: Final = frozenset("0123456789abcdefABCDEF")
_KEYWORDS: Final[dict[str, bool | None]] = {"true": True, "false": False, "null": None}
# Used only to jump over runs of ordinary characters; every decision is made by the scanner.
_STRING_SPECIAL: Final = re.compile(r'["\\]')
_KEY_SPECIAL: Final = re.compile(r'["\\\x00-\x1f]')
_BARE_END: Final = re.compile(r"[,}\r\n]")
_SHOWN_CHARS: Final = 40


class BodyError(ValueError):
    """The body cannot be read as one JSON object, even leniently."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def parse_report_body(raw: bytes) -> dict[str, object]:
    """Return the top-level object of a report body, salvaging bash-built JSON."""
    try:
        parsed = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return _salvage(raw)
    if isinstance(parsed, dict):
        return parsed
    raise BodyError(f"body must be a JSON object, got {_json_kind(parsed)}")


def _json_kind(value: object) -> str:
    """Name a parsed JSON value the way a client author would recognise it."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array"


def _salvage(raw: bytes) -> dict[str, object]:
    """Decode leniently (bad bytes become U+FFFD, a BOM is skipped) and scan one object."""
    text = raw.decode("utf-8", errors="replace")
    scanner = _Scanner(text, 1 if text.startswith("\ufeff") else 0)
    scanner.skip_whitespace()
    if scanner.at_end():
        raise BodyError("empty body")
    return scanner.read_object()


class _Scanner:
    """Character-level reader of one flat ``{"key": value, ...}`` object.

    Tolerances, each for a client that really sends it:

    - Empty value (``"disk_size": ,`` or ``"disk_size": }``) reads as None: the
      previous client (``/upload``) splices numbers unquoted, so an empty shell
      variable leaves nothing between the colon and the comma.
    - Bare token (``8G``, ``true``, ``12``): the same splicing with a value
      such as ``8G``; ``true``/``false``/``null`` and valid JSON numbers keep
      their JSON meaning, anything else becomes the token's text. A token runs
      to the next ``,``, ``}`` or line break.
    - Invalid escapes (``\\d``, ``\\.``, ``\\ ``) and broken ``\\u`` escapes are
      kept literally: error texts quote regexes and paths unescaped.
    - Raw control characters (newline, tab, ``\\x01``) in strings are kept:
      heredocs paste log lines into ``error`` as they are.
    - Unescaped ``"`` inside a string (``at line 5: echo "hi"``): a quote
      closes a string value only when followed by ``,`` and the next
      ``"key":``, or by ``}`` (optionally after a trailing comma) and nothing
      but whitespace to the end of the body. Error traces are the only long
      free text, so any other quote belongs to the value.
    - Trailing comma before ``}`` and any JSON whitespace (CRLF included)
      between tokens: hand-edited heredocs and Windows-edited forks.
    - Nested ``{...}``/``[...]`` values are cut out by bracket balance and
      parsed strictly with orjson; no client builds them by splicing.
    - Duplicate keys: the last one wins, as in every JSON parser.
    """

    def __init__(self, text: str, pos: int) -> None:
        self.text = text
        self.pos = pos
        self.end = len(text)

    def at_end(self) -> bool:
        """Whether the cursor has consumed the whole body."""
        return self.pos >= self.end

    def peek(self) -> str:
        """The character under the cursor, or "" at the end of the body."""
        return self.text[self.pos] if self.pos < self.end else ""

    def skip_whitespace(self) -> None:
        """Move past JSON whitespace, so line breaks and indentation are free."""
        self.pos = _skip_whitespace(self.text, self.pos)

    def error(self, problem: str, at: int | None = None) -> BodyError:
        """Build the error for a problem at ``at`` (default: the cursor)."""
        offset = self.pos if at is None else at
        return BodyError(f"malformed JSON at offset {offset}: {problem}")

    def found(self) -> str:
        """Describe what sits under the cursor, for 'expected X, found Y' messages."""
        if self.at_end():
            return "end of body"
        return f"{self.text[self.pos : self.pos + 20]!r}"

    def read_object(self) -> dict[str, object]:
        """Read the whole object and insist nothing but whitespace follows it."""
        if self.peek() != "{":
            raise self.error(f"expected '{{' to open the object, found {self.found()}")
        self.pos += 1
        result: dict[str, object] = {}
        while self._has_member():
            key = self._read_key()
            self._expect_colon(key)
            result[key] = self._read_value(key)
            if not self._continues_after_value(key):
                break
        self.skip_whitespace()
        if not self.at_end():
            raise self.error(f"unexpected text after the closing '}}': {self.found()}")
        return result

    def _has_member(self) -> bool:
        """Whether another member follows; consumes '}' (also after a trailing comma)."""
        self.skip_whitespace()
        if self.peek() == "}":
            self.pos += 1
            return False
        return True

    def _continues_after_value(self, key: str) -> bool:
        """Consume the ',' or '}' after a value; True when another member may follow."""
        self.skip_whitespace()
        char = self.peek()
        if char == ",":
            self.pos += 1
            return True
        if char == "}":
            self.pos += 1
            return False
        raise self.error(
            f"expected ',' or '}}' after the value of key {_show(key)}, found {self.found()}"
        )

    def _read_key(self) -> str:
        """Read a double-quoted key; keys never hold raw control characters."""
        if self.peek() != '"':
            raise self.error(f"expected '\"' to start a key, found {self.found()}")
        opening = self.pos
        stop = _key_stop(self.text, opening)
        if stop >= self.end:
            raise self.error("unterminated key", at=opening)
        if self.text[stop] != '"':
            raise self.error(f"raw control character {self.text[stop]!r} in key", at=stop)
        self.pos = stop + 1
        return _unescape(self.text[opening + 1 : stop])

    def _expect_colon(self, key: str) -> None:
        """Consume the ':' between a key and its value."""
        self.skip_whitespace()
        if self.peek() != ":":
            raise self.error(f"expected ':' after key {_show(key)}, found {self.found()}")
        self.pos += 1

    def _read_value(self, key: str) -> object:
        """Dispatch on the first character of a value."""
        self.skip_whitespace()
        char = self.peek()
        if char in ("", ",", "}"):
            return None
        if char == '"':
            return self._read_string_value(key)
        if char in ("{", "["):
            return self._read_nested_value(key)
        return self._read_bare_value(key)

    def _read_string_value(self, key: str) -> object:
        """Read a string whose unescaped inner quotes are part of the text."""
        opening = self.pos
        closing = _string_value_end(self.text, opening)
        if closing < 0:
            raise self.error(
                f"unterminated string value for key {_show(key)}: no closing quote followed"
                " by ',' and the next key, or by the final '}'",
                at=opening,
            )
        self.pos = closing + 1
        return _unescape(self.text[opening + 1 : closing])

    def _read_nested_value(self, key: str) -> object:
        """Cut out a balanced object/array and parse it strictly."""
        start = self.pos
        stop = _balanced_end(self.text, start)
        if stop < 0:
            raise self.error(f"unterminated nested value for key {_show(key)}", at=start)
        try:
            value: object = orjson.loads(self.text[start:stop])
        except orjson.JSONDecodeError as exc:
            raise self.error(f"invalid nested value for key {_show(key)}: {exc}", at=start) from exc
        self.pos = stop
        return value

    def _read_bare_value(self, key: str) -> object:
        """Read an unquoted token up to ',', '}' or a line break."""
        start = self.pos
        match = _BARE_END.search(self.text, start)
        stop = self.end if match is None else match.start()
        token = self.text[start:stop].rstrip(" \t")
        if '"' in token:
            raise self.error(
                f"unexpected '\"' in the unquoted value of key {_show(key)}"
                " (missing comma or opening quote?)",
                at=start + token.index('"'),
            )
        self.pos = start + len(token)
        return _bare_token_value(token)


def _skip_whitespace(text: str, pos: int) -> int:
    """Index of the first non-whitespace character at or after ``pos``."""
    end = len(text)
    while pos < end and text[pos] in _WHITESPACE:
        pos += 1
    return pos


def _key_stop(text: str, opening: int) -> int:
    """Index of the quote closing a key, of a control character, or len(text)."""
    pos = opening + 1
    while True:
        match = _KEY_SPECIAL.search(text, pos)
        if match is None:
            return len(text)
        if text[match.start()] != "\\":
            return match.start()
        pos = match.start() + 2


def _string_value_end(text: str, opening: int) -> int:
    """Index of the quote that really closes the string value, or -1.

    Each quote's look-ahead reads at most the next key, so the scan stays linear.
    """
    pos = opening + 1
    while True:
        match = _STRING_SPECIAL.search(text, pos)
        if match is None:
            return -1
        quote = match.start()
        if text[quote] == "\\":
            pos = quote + 2
        elif _closes_string_value(text, quote + 1):
            return quote
        else:
            pos = quote + 1


def _closes_string_value(text: str, pos: int) -> bool:
    """Whether what follows a quote is ', "key":' or a final '}' (trailing comma allowed)."""
    pos = _skip_whitespace(text, pos)
    if text.startswith(",", pos):
        pos = _skip_whitespace(text, pos + 1)
        if text.startswith('"', pos):
            return _starts_member(text, pos)
    if text.startswith("}", pos):
        return _skip_whitespace(text, pos + 1) == len(text)
    return False


def _starts_member(text: str, opening: int) -> bool:
    """Whether a well-formed '"key" :' starts at ``opening``."""
    stop = _key_stop(text, opening)
    if stop >= len(text) or text[stop] != '"':
        return False
    return text.startswith(":", _skip_whitespace(text, stop + 1))


def _balanced_end(text: str, start: int) -> int:
    """Index just past the bracket closing the one at ``start`` (strings respected), or -1."""
    depth = 0
    in_string = False
    pos = start
    end = len(text)
    while pos < end:
        char = text[pos]
        if in_string:
            if char == "\\":
                pos += 1
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "{[":
            depth += 1
        elif char in "}]":
            depth -= 1
            if depth == 0:
                return pos + 1
        pos += 1
    return -1


def _bare_token_value(token: str) -> object:
    """JSON keywords and numbers keep their meaning; any other token stays text."""
    if token in _KEYWORDS:
        return _KEYWORDS[token]
    if token[:1] in ("-", "0", "1", "2", "3", "4", "5", "6", "7", "8", "9"):
        try:
            number: object = orjson.loads(token)
        except orjson.JSONDecodeError:
            return token
        if isinstance(number, int | float):
            return number
    return token


def _unescape(chunk: str) -> str:
    """Decode the escapes of a string's content, keeping invalid ones literally."""
    if "\\" not in chunk:
        return chunk
    parts: list[str] = []
    pos = 0
    while (slash := chunk.find("\\", pos)) >= 0:
        parts.append(chunk[pos:slash])
        decoded, pos = _decode_escape(chunk, slash)
        parts.append(decoded)
    parts.append(chunk[pos:])
    return "".join(parts)


def _decode_escape(chunk: str, slash: int) -> tuple[str, int]:
    """Decode the escape at ``slash``; return its text and the index after it."""
    char = chunk[slash + 1 : slash + 2]
    if char in _SIMPLE_ESCAPES:
        return _SIMPLE_ESCAPES[char], slash + 2
    if char == "u":
        return _decode_unicode_escape(chunk, slash)
    return chunk[slash : slash + 2], slash + 2


def _decode_unicode_escape(chunk: str, slash: int) -> tuple[str, int]:
    """Decode ``\\uXXXX`` (joining surrogate pairs); broken or lone-surrogate ones stay text.

    A lone surrogate cannot be encoded as UTF-8 later, so it is kept as its six characters.
    """
    code = _hex4(chunk, slash + 2)
    if code is None:
        return "\\u", slash + 2
    if 0xD800 <= code < 0xDC00 and chunk.startswith("\\u", slash + 6):
        low = _hex4(chunk, slash + 8)
        if low is not None and 0xDC00 <= low < 0xE000:
            return chr(0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00)), slash + 12
    if 0xD800 <= code < 0xE000:
        return chunk[slash : slash + 6], slash + 6
    return chr(code), slash + 6


def _hex4(chunk: str, pos: int) -> int | None:
    """The value of exactly four hex digits at ``pos``, or None."""
    digits = chunk[pos : pos + 4]
    if len(digits) != 4 or not all(digit in _HEX_DIGITS for digit in digits):
        return None
    return int(digits, 16)


def _show(key: str) -> str:
    """Quote a key for an error message, shortened if it is long."""
    if len(key) > _SHOWN_CHARS:
        key = key[:_SHOWN_CHARS] + "..."
    return f'"{key}"'
