"""Pin what parse_report_body salvages from bash-built bodies and what it rejects."""

from __future__ import annotations

import json
from typing import Any

import pytest

from ingest.lenient_json import BodyError, parse_report_body
from tests.utils.fixtures import captured_requests

BOM = b"\xef\xbb\xbf"


def _captured_params() -> list[Any]:
    return [
        pytest.param(record["body"], id=f"{index}-{record['path'].strip('/').replace('/', '-')}")
        for index, record in enumerate(captured_requests())
    ]


def _pick(path: str, status: str) -> str:
    """The first captured body sent to ``path`` with ``status`` (the fixture has one)."""
    for record in captured_requests():
        if record["path"] == path and json.loads(record["body"]).get("status") == status:
            return str(record["body"])
    raise AssertionError(f"no captured {path} request with status {status!r}")


@pytest.fixture
def upload_body() -> str:
    """Previous client, POST /upload: numbers spliced unquoted."""
    return _pick("/upload", "installing")


@pytest.fixture
def failure_body() -> str:
    """Current client, POST /telemetry: an APT failure with its error trace."""
    return _pick("/telemetry", "failed")


@pytest.fixture
def updatestatus_body() -> str:
    """Previous client, POST /upload/updatestatus: error is the last-but-one member."""
    return _pick("/upload/updatestatus", "failed")


def _replace_once(body: str, old: str, new: str) -> str:
    assert body.count(old) == 1, f"fixture changed: {old!r} not found exactly once"
    return body.replace(old, new)


def _with_raw_error(body: str, raw_error: str) -> str:
    """Put ``raw_error`` between the quotes of the error value exactly as bash would."""
    original = json.loads(body)["error"]
    return _replace_once(body, f'"error": {json.dumps(original)}', f'"error": "{raw_error}"')


def _with_trailing_comma(body: str) -> str:
    stripped = body.rstrip()
    assert stripped.endswith("}")
    return stripped[:-1].rstrip() + ",\n}"


def _parse(body: str) -> dict[str, object]:
    return parse_report_body(body.encode("utf-8"))


def _broken(members: str) -> bytes:
    """A small body whose trailing comma forces the salvage path."""
    return ('{"nsapp": "docker", ' + members + ",}").encode()


# --- real captured bodies -------------------------------------------------------------


@pytest.mark.parametrize("body", _captured_params())
def test_captured_body_parses_like_strict_json(body: str) -> None:
    assert _parse(body) == json.loads(body)


@pytest.mark.parametrize("body", _captured_params())
def test_captured_body_with_bom_parses_identically_through_salvage(body: str) -> None:
    assert parse_report_body(BOM + body.encode()) == json.loads(body)


@pytest.mark.parametrize("body", _captured_params())
def test_captured_body_with_trailing_comma_and_crlf_is_salvaged(body: str) -> None:
    broken = _with_trailing_comma(body).replace("\n", "\r\n")
    assert _parse(broken) == json.loads(body)


# --- empty values ---------------------------------------------------------------------


def test_empty_spliced_number_becomes_none(upload_body: str) -> None:
    broken = _replace_once(upload_body, '"disk_size": 8,', '"disk_size": ,')
    expected = json.loads(upload_body) | {"disk_size": None}
    assert _parse(broken) == expected


def test_every_empty_spliced_number_becomes_none(upload_body: str) -> None:
    broken = upload_body
    for key in ("ct_type", "disk_size", "core_count", "ram_size"):
        value = json.loads(upload_body)[key]
        broken = _replace_once(broken, f'"{key}": {value},', f'"{key}": ,')
    parsed = _parse(broken)
    assert [parsed[key] for key in ("ct_type", "disk_size", "core_count", "ram_size")] == [None] * 4
    assert parsed["nsapp"] == "docker"


def test_empty_last_value_before_closing_brace_becomes_none(upload_body: str) -> None:
    random_id = json.loads(upload_body)["random_id"]
    broken = _replace_once(upload_body, f'"random_id": "{random_id}"', '"random_id": ')
    assert _parse(broken)["random_id"] is None


def test_empty_value_with_crlf_line_endings_becomes_none(upload_body: str) -> None:
    broken = _replace_once(upload_body, '"ram_size": 2048,', '"ram_size": ,').replace("\n", "\r\n")
    assert _parse(broken) == json.loads(upload_body) | {"ram_size": None}


# --- bare tokens ----------------------------------------------------------------------


def test_bare_size_with_unit_becomes_string(upload_body: str) -> None:
    broken = _replace_once(upload_body, '"disk_size": 8,', '"disk_size": 8G,')
    assert _parse(broken) == json.loads(upload_body) | {"disk_size": "8G"}


@pytest.mark.parametrize(
    ("token", "expected"),
    [
        ("true", True),
        ("false", False),
        ("null", None),
        ("42", 42),
        ("-3", -3),
        ("2.5", 2.5),
        ("1e3", 1000.0),
        ("8G", "8G"),
        ("007", "007"),
        ("0x1F", "0x1F"),
        ("NaN", "NaN"),
        ("1e999", "1e999"),
        ("8 G", "8 G"),
        ("debian", "debian"),
    ],
)
def test_bare_token_keeps_json_meaning_or_becomes_text(token: str, expected: object) -> None:
    parsed = parse_report_body(_broken(f'"value": {token}'))
    assert parsed["value"] == expected
    assert type(parsed["value"]) is type(expected)


def test_bare_token_ends_at_line_break_and_closing_brace() -> None:
    assert parse_report_body(b'{"a": 8G\r\n, "b": 4G}\r\n') == {"a": "8G", "b": "4G"}


# --- escapes --------------------------------------------------------------------------


def test_invalid_escapes_in_error_are_kept_literally(failure_body: str) -> None:
    raw_error = r"at line 57: grep -E '^\d+\.\d+' /etc/os-release | sed 's/\ /_/'"
    parsed = _parse(_with_raw_error(failure_body, raw_error))
    assert parsed["error"] == raw_error
    assert parsed["error_category"] == "dependency"


def test_valid_escapes_are_decoded_in_salvage_path() -> None:
    raw = r'"line\none\ttab \"q\" back\\slash \/ \b\f\r caf\u00e9 \ud83d\ude00"'
    parsed = parse_report_body(_broken(f'"error": {raw}'))
    assert parsed["error"] == 'line\none\ttab "q" back\\slash / \b\f\r café 😀'


@pytest.mark.parametrize(
    "broken_escape",
    [r"\u12", r"\uZZZZ", r"\u12G4", r"\ud800", r"\udc00", r"\ud83d\u0041"],
)
def test_broken_unicode_escape_is_kept_literally(broken_escape: str) -> None:
    parsed = parse_report_body(_broken(f'"error": "x {broken_escape} y"'))
    expected = "x \\ud83dA y" if broken_escape == r"\ud83d\u0041" else f"x {broken_escape} y"
    assert parsed["error"] == expected


def test_escaped_key_is_decoded() -> None:
    assert parse_report_body(_broken(r'"os_\u0074ype": "debian"'))["os_type"] == "debian"


# --- raw control characters -----------------------------------------------------------


@pytest.mark.parametrize("control", ["\n", "\t", "\r\n", "\x01", "\x1b[31m"])
def test_raw_control_characters_in_error_are_kept(failure_body: str, control: str) -> None:
    raw_error = f"exit_code=100 | APT failed{control}---{control}E: Unable to locate package"
    parsed = _parse(_with_raw_error(failure_body, raw_error))
    assert parsed["error"] == raw_error
    assert parsed["exit_code"] == 100


# --- unescaped quotes -----------------------------------------------------------------


@pytest.mark.parametrize(
    "raw_error",
    [
        'at line 5: echo "hi"',
        'at line 5: echo "a", b',
        'at line 5: echo "a", "b" c',
        'at line 5: echo "a" , "b"',
        'cfg {"k": 1} then "x"}',
        '"quoted at start" and "end"',
        'echo ""',
        'grep "\\d" "file"',
    ],
)
def test_unescaped_quotes_inside_error_are_part_of_the_value(
    failure_body: str, raw_error: str
) -> None:
    parsed = _parse(_with_raw_error(failure_body, raw_error))
    assert parsed["error"] == raw_error
    assert parsed["error_category"] == "dependency"


def test_unescaped_quotes_in_error_of_previous_client_status_update(
    updatestatus_body: str,
) -> None:
    raw_error = 'Command not found: "foo", bar "baz"'
    parsed = _parse(_with_raw_error(updatestatus_body, raw_error))
    assert parsed == json.loads(updatestatus_body) | {"error": raw_error}


def test_unescaped_quotes_in_last_value_end_at_final_brace() -> None:
    body = b'{"status": "failed", "error": "said "bye" then "}" once"\n}\n'
    assert parse_report_body(body)["error"] == 'said "bye" then "}" once'


def test_unescaped_quotes_in_last_value_with_trailing_comma() -> None:
    body = b'{"status": "failed", "error": "echo "x"",\n}'
    assert parse_report_body(body)["error"] == 'echo "x"'


# --- structure ------------------------------------------------------------------------


def test_trailing_comma_is_tolerated(upload_body: str) -> None:
    assert _parse(_with_trailing_comma(upload_body)) == json.loads(upload_body)


def test_bom_and_surrounding_whitespace_are_stripped(upload_body: str) -> None:
    raw = BOM + b"\r\n  " + upload_body.encode() + b"\r\n\t "
    assert parse_report_body(raw) == json.loads(upload_body)


def test_empty_object_is_accepted() -> None:
    assert parse_report_body(BOM + b" { } ") == {}


def test_duplicate_keys_keep_the_last_value() -> None:
    assert parse_report_body(b'{"status": "installing", "status": "failed"}') == {
        "status": "failed"
    }
    salvaged = parse_report_body(_broken('"status": "installing", "status": "failed"'))
    assert salvaged["status"] == "failed"


def test_nested_values_are_parsed_strictly() -> None:
    parsed = parse_report_body(_broken('"extra": {"a": [1, "}]\\""], "b": {}}, "list": [ ]'))
    assert parsed["extra"] == {"a": [1, '}]"'], "b": {}}
    assert parsed["list"] == []


def test_invalid_utf8_bytes_are_replaced(failure_body: str) -> None:
    original = json.loads(failure_body)["error"]
    raw = failure_body.encode().replace(b"libvips-dev", b"libvips-dev \xff\xfe")
    assert parse_report_body(raw)["error"] == original + " \ufffd\ufffd"


def test_large_broken_body_is_parsed_in_linear_time(failure_body: str) -> None:
    line = 'E: line "a", "b" c \\d {"x": 1} "}" \t\x01 end\n'
    raw_error = "exit_code=100 | APT | at line 57: apt-get\n---\n" + line * 5000
    body = _replace_once(
        _with_raw_error(failure_body, raw_error), '"disk_size": 8,', '"disk_size": ,'
    )
    assert len(body.encode()) > 200_000
    parsed = _parse(body)
    assert parsed["error"] == raw_error
    assert parsed["disk_size"] is None


# --- rejected bodies ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "kind"),
    [
        (b"[1, 2]", "array"),
        (b'"docker"', "string"),
        (b"42", "number"),
        (b"1.5", "number"),
        (b"null", "null"),
        (b"true", "boolean"),
    ],
)
def test_valid_json_that_is_not_an_object_is_rejected(raw: bytes, kind: str) -> None:
    with pytest.raises(BodyError) as caught:
        parse_report_body(raw)
    assert caught.value.message == f"body must be a JSON object, got {kind}"


@pytest.mark.parametrize("raw", [b"", b"   ", b"\r\n\t", BOM, BOM + b" \n "])
def test_empty_body_is_rejected(raw: bytes) -> None:
    with pytest.raises(BodyError) as caught:
        parse_report_body(raw)
    assert caught.value.message == "empty body"


UNSALVAGEABLE = [
    pytest.param(b'"nsapp": "docker"}', "offset 0: expected '{' to open the object", id="no-brace"),
    pytest.param(b"[1, 2", "offset 0: expected '{' to open the object", id="broken-array"),
    pytest.param(b"nsapp=docker", "offset 0: expected '{' to open the object", id="form-data"),
    pytest.param(
        b'{"nsapp" "docker"}',
        "offset 9: expected ':' after key \"nsapp\", found '\"docker\"}'",
        id="missing-colon",
    ),
    pytest.param(b'{"nsapp"', "offset 8: expected ':' after key \"nsapp\"", id="key-at-end"),
    pytest.param(
        b'{"error": "oops',
        'offset 10: unterminated string value for key "error"',
        id="unterminated-string",
    ),
    pytest.param(
        b'{"error": "oops"} trailing',
        'offset 10: unterminated string value for key "error"',
        id="text-after-string-and-brace",
    ),
    pytest.param(
        b'{"a": 1} trailing',
        "offset 9: unexpected text after the closing '}'",
        id="text-after-brace",
    ),
    pytest.param(
        b'{"a": 1}}', "offset 8: unexpected text after the closing '}'", id="double-brace"
    ),
    pytest.param(
        b'{"a": 1}{"b": 2}', "offset 8: unexpected text after the closing '}'", id="two-objects"
    ),
    pytest.param(b'{nsapp: "docker"}', "offset 1: expected '\"' to start a key", id="bare-key"),
    pytest.param(
        b"{'nsapp': 'docker'}", "offset 1: expected '\"' to start a key", id="single-quotes"
    ),
    pytest.param(b'{"nsapp', "offset 1: unterminated key", id="unterminated-key"),
    pytest.param(
        b'{"ns\napp": 1}', "offset 4: raw control character '\\n' in key", id="newline-in-key"
    ),
    pytest.param(
        b"{", "offset 1: expected '\"' to start a key, found end of body", id="only-brace"
    ),
    pytest.param(
        b'{"a": 1',
        "offset 7: expected ',' or '}' after the value of key \"a\", found end of body",
        id="missing-closing-brace",
    ),
    pytest.param(
        b'{"a": 1\n"b": 2}',
        "offset 8: expected ',' or '}' after the value of key \"a\"",
        id="missing-comma",
    ),
    pytest.param(b'{"a": 1,, "b": 2}', "offset 8: expected '\"' to start a key", id="double-comma"),
    pytest.param(
        b'{"a": 1 "b": 2}',
        'offset 8: unexpected \'"\' in the unquoted value of key "a"',
        id="quote-in-bare-value",
    ),
    pytest.param(
        b'{"nsapp": docker", "x": 1}',
        'offset 16: unexpected \'"\' in the unquoted value of key "nsapp"',
        id="missing-opening-quote",
    ),
    pytest.param(
        b'{"extra": {"b": }, "c": 1}',
        'offset 10: invalid nested value for key "extra"',
        id="invalid-nested",
    ),
    pytest.param(
        b'{"extra": [1, 2}',
        'offset 10: invalid nested value for key "extra"',
        id="mismatched-brackets",
    ),
    pytest.param(
        b'{"extra": [1, "]", 2',
        'offset 10: unterminated nested value for key "extra"',
        id="unterminated-nested",
    ),
    pytest.param(
        BOM + b'{"nsapp" "docker"}',
        "offset 10: expected ':' after key \"nsapp\"",
        id="offset-counts-bom",
    ),
]


@pytest.mark.parametrize(("raw", "expected"), UNSALVAGEABLE)
def test_unsalvageable_body_is_rejected_with_offset_and_reason(raw: bytes, expected: str) -> None:
    with pytest.raises(BodyError) as caught:
        parse_report_body(raw)
    error = caught.value
    assert error.message.startswith("malformed JSON at ")
    assert f"malformed JSON at {expected}" in error.message
    assert str(error) == error.message


def test_body_error_is_a_value_error_with_message() -> None:
    error = BodyError("empty body")
    assert isinstance(error, ValueError)
    assert error.message == "empty body"
    assert str(error) == "empty body"


def test_long_key_is_shortened_in_error_message() -> None:
    with pytest.raises(BodyError) as caught:
        parse_report_body(b'{"' + b"k" * 500 + b'" 1}')
    assert '"' + "k" * 40 + '..."' in caught.value.message
    assert len(caught.value.message) < 200
