"""Bad report bodies are refused with the documented error and store nothing; bash-built
bodies that can be salvaged are stored with the right values.

Everything goes through the real server on both stores; what was stored is read back
through GraphQL.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from tests.utils.bad_input import (
    RANDOM_ID,
    SUCCESS_STATUS,
    error_of,
    graphql_data,
    post_raw,
    read_run,
    report_body,
    run_count,
)

BOM = b"\xef\xbb\xbf"
TELEMETRY_BODY = report_body("/telemetry")


def bad(case_id: str, path: str, body: bytes, status: int, code: str, field: str | None) -> Any:
    return pytest.param(path, body, status, code, field, id=case_id)


def malformed(case_id: str, path: str, body: bytes) -> Any:
    return bad(case_id, path, body, 400, "malformed_json", None)


def invalid(case_id: str, path: str, code: str, field: str, **changes: Any) -> Any:
    """A valid body of ``path`` with ``changes`` applied, refused 422 ``code`` on ``field``."""
    return bad(case_id, path, report_body(path, **changes), 422, code, field)


def missing(case_id: str, path: str, field: str, *drop: str, **changes: Any) -> Any:
    body = report_body(path, drop=drop, **changes)
    return bad(case_id, path, body, 422, "missing_field", field)


BAD_BODIES = [
    # Malformed JSON that no salvage rule covers: 400 for the whole body.
    malformed("unterminated-object", "/telemetry", b'{"random_id": "r1", "nsapp": "debian"'),
    malformed("unterminated-string", "/telemetry", b'{"random_id": "r1", "error": "no end'),
    malformed("plain-text", "/telemetry", b"random_id=r1&nsapp=debian&status=success"),
    malformed("unquoted-keys", "/upload", b'{random_id: "r1", nsapp: "debian"}'),
    malformed("single-quotes", "/upload", b"{'random_id': 'r1', 'nsapp': 'debian'}"),
    malformed("missing-colon", "/install", b'{"random_id" "r1", "nsapp": "debian"}'),
    malformed("text-after-object", "/telemetry", TELEMETRY_BODY + b" trailing"),
    malformed(
        "two-objects",
        "/telemetry",
        b'{"random_id": "r1", "exit_code": 1}{"random_id": "r2", "exit_code": 2}',
    ),
    malformed("double-comma", "/update", b'{"exit_code": 1,, "nsapp": "debian"}'),
    malformed("quote-in-bare-value", "/telemetry", b'{"random_id": "r1", "status": done"}'),
    malformed("broken-nested-array", "/telemetry", b'{"random_id": "r1", "tags": [1, 2}'),
    malformed("raw-newline-in-key", "/telemetry", b'{"random\nid": "r1", "nsapp": "debian"}'),
    malformed("binary-garbage", "/upload/updatestatus", b"\xff\xfe\x00\x01garbage"),
    malformed("lone-closing-brace", "/telemetry", b"}"),
    malformed("deeply-nested-arrays", "/telemetry", b"[" * 5000 + b"]" * 5000),
    malformed(
        "deeply-nested-value",
        "/telemetry",
        b'{"random_id": "r1", "x": ' + b"[" * 5000 + b"]" * 5000 + b"}",
    ),
    # JSON that is valid but not an object.
    malformed("json-empty-array", "/telemetry", b"[]"),
    malformed("json-array-of-report", "/telemetry", b"[" + TELEMETRY_BODY + b"]"),
    malformed("json-string", "/upload", b'"installing"'),
    malformed("json-number", "/install", b"42"),
    malformed("json-null", "/update", b"null"),
    malformed("json-true", "/upload/updatestatus", b"true"),
    # Nothing at all.
    malformed("empty-body", "/telemetry", b""),
    malformed("whitespace-body", "/upload", b" \r\n\t "),
    # Identity.
    bad("empty-object", "/telemetry", b"{}", 422, "missing_field", "random_id"),
    missing("telemetry-no-ids", "/telemetry", "random_id", "random_id", "execution_id"),
    missing("upload-no-random-id", "/upload", "random_id", "random_id"),
    missing("install-no-random-id", "/install", "random_id", "random_id"),
    missing("updatestatus-no-random-id", "/upload/updatestatus", "random_id", "random_id"),
    missing("empty-random-id", "/telemetry", "random_id", "execution_id", random_id=""),
    missing("null-random-id", "/upload", "random_id", random_id=None),
    # App and status.
    missing("telemetry-no-nsapp", "/telemetry", "nsapp", "nsapp"),
    missing("install-no-app-name", "/install", "nsapp", "nsapp"),
    missing("blank-nsapp", "/upload", "nsapp", nsapp="   "),
    missing("telemetry-no-status", "/telemetry", "status", "status"),
    missing("update-no-status-no-exit-code", "/update", "status", "status"),
    missing("empty-status", "/install", "status", status=""),
    invalid("unknown-status", "/telemetry", "unknown_status", "status", status="exploded"),
    invalid(
        "unknown-final-status",
        "/upload/updatestatus",
        "unknown_status",
        "status",
        status="completed",
    ),
    bad(
        "duplicate-key-last-wins",
        "/telemetry",
        TELEMETRY_BODY[:-1] + b', "status": "exploded"}',
        422,
        "unknown_status",
        "status",
    ),
    # Wrong types.
    invalid("object-for-disk-size", "/upload", "invalid_type", "disk_size", disk_size={"gb": 8}),
    invalid("list-for-status", "/telemetry", "invalid_type", "status", status=["success"]),
    invalid("bool-for-exit-code", "/telemetry", "invalid_type", "exit_code", exit_code=True),
    invalid("object-for-nsapp", "/install", "invalid_type", "nsapp", nsapp={"name": "debian"}),
    invalid("list-for-random-id", "/telemetry", "invalid_type", "random_id", random_id=["r1"]),
    invalid("maybe-for-has-arm", "/telemetry", "invalid_type", "has_arm", has_arm="maybe"),
    # Out of range.
    invalid("exit-code-256", "/telemetry", "out_of_range", "exit_code", exit_code=256),
    invalid("exit-code-negative", "/telemetry", "out_of_range", "exit_code", exit_code=-1),
    invalid(
        "duration-over-a-day",
        "/telemetry",
        "out_of_range",
        "install_duration",
        install_duration=90_000,
    ),
    invalid("ct-type-7", "/upload", "out_of_range", "ct_type", ct_type=7),
    invalid("core-count-99999", "/telemetry", "out_of_range", "core_count", core_count=99_999),
    invalid("install-ctid-5", "/install", "out_of_range", "ctid", ctid=5),
    invalid("failed-line-negative", "/telemetry", "out_of_range", "failed_line", failed_line=-3),
    invalid("update-exit-code-300", "/update", "out_of_range", "exit_code", exit_code=300),
    invalid("ram-17-tebibytes", "/upload", "out_of_range", "ram_size", ram_size="17T"),
    # Numbers that are not numbers.
    invalid("disk-size-abc", "/upload", "invalid_number", "disk_size", disk_size="abc"),
    invalid("disk-size-unknown-unit", "/upload", "invalid_number", "disk_size", disk_size="8Q"),
    invalid("ct-type-with-unit", "/upload", "invalid_number", "ct_type", ct_type="1G"),
    invalid("exit-code-with-unit", "/telemetry", "invalid_number", "exit_code", exit_code="1M"),
    bad(
        "bare-nan-disk-size",
        "/upload",
        b'{"random_id": "r1", "nsapp": "debian", "status": "installing", "disk_size": NaN}',
        422,
        "invalid_number",
        "disk_size",
    ),
    # Timestamps.
    invalid(
        "timestamp-yesterday", "/telemetry", "invalid_timestamp", "timestamp", timestamp="yesterday"
    ),
    invalid(
        "timestamp-month-13",
        "/telemetry",
        "invalid_timestamp",
        "timestamp",
        timestamp="2026-13-45T00:00:00",
    ),
    invalid("timestamp-boolean", "/telemetry", "invalid_timestamp", "timestamp", timestamp=True),
    invalid(
        "epoch-before-2020", "/telemetry", "out_of_range", "timestamp", timestamp=1_500_000_000
    ),
    invalid(
        "iso-before-2020", "/install", "out_of_range", "timestamp", timestamp="2019-12-31T23:59:59Z"
    ),
    # Too long.
    invalid("nsapp-500-chars", "/telemetry", "too_long", "nsapp", nsapp="a" * 500),
    invalid("random-id-129-chars", "/upload", "too_long", "random_id", random_id="r" * 129),
    invalid("status-40-chars", "/telemetry", "too_long", "status", status="installing" * 4),
    invalid("update-version-101-chars", "/update", "too_long", "version", version="1" * 101),
    # Identifiers that are not printable text.
    invalid(
        "nul-in-random-id",
        "/telemetry",
        "invalid_identifier",
        "random_id",
        random_id="abc\u0000def",
        execution_id=None,
    ),
    invalid("tab-in-random-id", "/upload", "invalid_identifier", "random_id", random_id="abc\tdef"),
    invalid(
        "escape-sequence-in-execution-id",
        "/telemetry",
        "invalid_identifier",
        "execution_id",
        execution_id="\u001b[31mred",
    ),
    bad(
        "raw-newline-in-random-id",
        "/upload/updatestatus",
        b'{"random_id": "ab\ncd", "status": "done"}',
        422,
        "invalid_identifier",
        "random_id",
    ),
]


def test_bad_body_table_is_large_and_distinct():
    bodies = [(case.values[0], case.values[1]) for case in BAD_BODIES]
    assert len(BAD_BODIES) >= 40
    assert len(set(bodies)) == len(bodies)
    assert len({case.id for case in BAD_BODIES}) == len(BAD_BODIES)


@pytest.mark.parametrize(("path", "body", "status", "code", "field"), BAD_BODIES)
async def test_bad_body_is_refused_with_its_error_and_stores_nothing(
    client, path, body, status, code, field
):
    response = await post_raw(client, path, body)
    assert response.status == status, await response.text()
    error = await error_of(response)
    assert (error["code"], error["field"]) == (code, field), error
    assert await run_count(client) == 0


# Body size ----------------------------------------------------------------------------


def padded_body(size: int) -> bytes:
    """A valid /telemetry body padded with JSON whitespace to exactly ``size`` bytes."""
    return TELEMETRY_BODY[:-1] + b" " * (size - len(TELEMETRY_BODY)) + b"}"


async def test_body_of_exactly_the_limit_is_accepted(client, settings):
    response = await post_raw(client, "/telemetry", padded_body(settings.max_body_bytes))
    assert response.status == 202, await response.text()
    assert await run_count(client) == 1


async def test_body_over_the_limit_is_refused_413(client, settings):
    response = await post_raw(client, "/telemetry", padded_body(settings.max_body_bytes + 1))
    assert response.status == 413
    error = await error_of(response)
    assert (error["code"], error["field"]) == ("body_too_large", None)
    assert await run_count(client) == 0


async def test_chunked_body_over_the_limit_without_content_length_is_refused_413(client, settings):
    body = padded_body(settings.max_body_bytes + 64 * 1024)

    async def chunks() -> AsyncIterator[bytes]:
        for start in range(0, len(body), 8192):
            yield body[start : start + 8192]

    response = await client.post("/telemetry", data=chunks())
    assert response.request_info.headers.get("Transfer-Encoding") == "chunked"
    assert "Content-Length" not in response.request_info.headers
    assert response.status == 413
    error = await error_of(response)
    assert error["code"] == "body_too_large"
    assert await run_count(client) == 0


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE"])
@pytest.mark.parametrize("path", ["/telemetry", "/upload", "/install"])
async def test_wrong_http_method_is_refused_405(client, method, path):
    # aiohttp's router answers this one itself (text/plain), not in the REST error shape.
    response = await client.request(method, path, data=TELEMETRY_BODY)
    assert response.status == 405
    assert "POST" in response.headers.get("Allow", "")
    assert await run_count(client) == 0


# Salvageable bodies ---------------------------------------------------------------------


def good(
    case_id: str,
    path: str,
    body: bytes,
    expected: dict[str, Any],
    content_type: str | None = "application/json",
) -> Any:
    return pytest.param(path, body, content_type, expected, id=case_id)


def upload_text(*members: str) -> bytes:
    """An /upload body the way the previous client's heredoc splices it (numbers unquoted)."""
    head = [f'"random_id": "{RANDOM_ID}"', '"type": "lxc"', '"nsapp": "debian"']
    return ("{\n  " + ",\n  ".join([*head, *members]) + "\n}").encode()


def telemetry_text(*members: str) -> bytes:
    head = [f'"random_id": "{RANDOM_ID}"', f'"execution_id": "{RANDOM_ID}"', '"nsapp": "debian"']
    return ("{\n  " + ",\n  ".join([*head, *members]) + "\n}").encode()


FAILED = ['"status": "failed"', '"exit_code": 1']

SALVAGEABLE = [
    good(
        "bare-8G-disk",
        "/upload",
        upload_text('"status": "installing"', '"disk_size": 8G', '"ram_size": 2048'),
        {"diskGb": 8, "ramMb": 2048},
    ),
    good(
        "ram-2G-string",
        "/upload",
        upload_text('"status": "installing"', '"ram_size": "2G"'),
        {"ramMb": 2048},
    ),
    good(
        "ram-512M-string",
        "/telemetry",
        telemetry_text('"status": "installing"', '"ram_size": "512M"', '"disk_size": "20480M"'),
        {"ramMb": 512, "diskGb": 20},
    ),
    good(
        "core-count-with-stray-size-letter",
        "/upload",
        upload_text('"status": "installing"', '"core_count": 2G'),
        {"cores": 2},
    ),
    good(
        "empty-spliced-numbers",
        "/upload",
        upload_text(
            '"status": "installing"', '"disk_size": ', '"core_count": ', '"ram_size": 1024'
        ),
        {"diskGb": None, "cores": None, "ramMb": 1024},
    ),
    good(
        "empty-number-before-brace",
        "/upload",
        upload_text('"status": "installing"', '"ct_type": 1', '"disk_size": '),
        {"ctType": 1, "diskGb": None},
    ),
    good(
        "invalid-escapes-in-error",
        "/telemetry",
        telemetry_text(*FAILED, r'"error": "grep -E \d+\. failed in \ dir"'),
        {"error": r"grep -E \d+\. failed in \ dir", "exitCode": 1},
    ),
    good(
        "raw-control-characters-in-error",
        "/telemetry",
        telemetry_text(*FAILED, '"error": "line one\n\tline two\x01end"'),
        {"error": "line one\n\tline two\x01end"},
    ),
    good(
        "unescaped-quotes-in-error",
        "/telemetry",
        telemetry_text(*FAILED, '"error": "exit_code=1 | at line 5: echo "hi""'),
        {"error": 'exit_code=1 | at line 5: echo "hi"', "outcome": "FAILED"},
    ),
    good(
        "unknown-fields-ignored",
        "/telemetry",
        telemetry_text('"status": "installing"', '"hostname": "pve1"', '"extra": {"tags": [1, 2]}'),
        {"app": "debian", "outcome": "IN_PROGRESS"},
    ),
    good(
        "content-type-text-plain",
        "/telemetry",
        telemetry_text('"status": "success"'),
        {"outcome": "SUCCESS"},
        content_type="text/plain",
    ),
    good(
        "content-type-form-urlencoded",
        "/upload",
        upload_text('"status": "installing"', '"disk_size": 4'),
        {"diskGb": 4},
        content_type="application/x-www-form-urlencoded",
    ),
    good(
        "no-content-type",
        "/install",
        report_body("/install"),
        {"ctid": 101, "outcome": "SUCCESS"},
        content_type=None,
    ),
    good(
        "status-odd-case-and-spaces",
        "/telemetry",
        telemetry_text('"status": " SUCCESS "'),
        {"outcome": "SUCCESS"},
    ),
    good(
        "status-typo-sucess",
        "/telemetry",
        telemetry_text('"status": "sucess"', '"exit_code": 0'),
        {"outcome": "SUCCESS", "events": [{"status": "sucess", "source": "telemetry"}]},
    ),
    good(
        "status-done",
        "/upload/updatestatus",
        report_body("/upload/updatestatus", status="done", error="Unknown error"),
        {"outcome": "SUCCESS", "error": None},
    ),
    good(
        "numbers-as-strings",
        "/telemetry",
        telemetry_text(
            '"status": "failed"', '"exit_code": "100"', '"core_count": "2"', '"ct_type": "1"'
        ),
        {"exitCode": 100, "cores": 2, "ctType": 1, "outcome": "FAILED"},
    ),
    good(
        "has-arm-yes",
        "/telemetry",
        telemetry_text('"status": "installing"', '"has_arm": "yes"'),
        {"hasArm": True},
    ),
    good(
        "has-arm-string-true",
        "/telemetry",
        telemetry_text('"status": "installing"', '"has_arm": "true"'),
        {"hasArm": True},
    ),
    good(
        "has-arm-one",
        "/telemetry",
        telemetry_text('"status": "installing"', '"has_arm": 1'),
        {"hasArm": True},
    ),
    good(
        "has-arm-no",
        "/telemetry",
        telemetry_text('"status": "installing"', '"has_arm": "no"'),
        {"hasArm": False},
    ),
    good(
        "byte-order-mark",
        "/telemetry",
        BOM + TELEMETRY_BODY,
        {"app": "debian", "type": "lxc"},
    ),
    good(
        "byte-order-mark-and-broken-json",
        "/upload",
        BOM + upload_text('"status": "installing"', '"disk_size": 8G'),
        {"diskGb": 8},
    ),
    good(
        "trailing-comma-and-crlf",
        "/telemetry",
        telemetry_text('"status": "installing"', '"core_count": 4,').replace(b"\n", b"\r\n"),
        {"cores": 4},
    ),
    good(
        "install-app-name-alias",
        "/install",
        report_body("/install", drop=("nsapp",), app_name="Docker"),
        {"app": "docker", "ctid": 101},
    ),
    good(
        "update-exit-code-without-status",
        "/update",
        report_body("/update", drop=("status",), exit_code=0, version="2.1.0"),
        {"kind": "UPDATE", "outcome": "SUCCESS", "appVersion": "2.1.0"},
    ),
]


def test_salvageable_table_is_large_and_distinct():
    bodies = [(case.values[0], case.values[1], case.values[2]) for case in SALVAGEABLE]
    assert len(SALVAGEABLE) >= 15
    assert len(set(bodies)) == len(bodies)


async def stored_run(client, path: str, response) -> dict[str, Any]:
    """The run a 2xx answer stored, found by the receipt's run_id or the random_id."""
    receipt = await response.json()
    run_id = receipt.get("run_id", RANDOM_ID)
    run = await read_run(client, run_id)
    assert run is not None, f"{path} answered {response.status} but run {run_id} is not stored"
    return run


@pytest.mark.parametrize(("path", "body", "content_type", "expected"), SALVAGEABLE)
async def test_salvageable_body_is_stored_with_its_values(
    client, path, body, content_type, expected
):
    response = await post_raw(client, path, body, content_type)
    assert response.status == SUCCESS_STATUS[path], await response.text()
    run = await stored_run(client, path, response)
    assert {key: run[key] for key in expected} == expected
    assert run["eventCount"] == 1
    assert run["events"][0]["source"] == path.strip("/")
    assert await run_count(client) == 1


async def test_nul_character_in_error_text_is_stored_on_every_store(client):
    # JSON allows \u0000; PostgreSQL text cannot hold it, SQLite can. The service must
    # give both stores the same answer: a stored report, not a 500.
    body = report_body("/telemetry", status="failed", exit_code=1, error="bad \u0000 byte")
    response = await post_raw(client, "/telemetry", body)
    assert response.status == 202, await response.text()
    run = await stored_run(client, "/telemetry", response)
    assert run["error"].startswith("bad ")
    assert run["error"].endswith(" byte")


# Ack after commit -----------------------------------------------------------------------


@pytest.mark.parametrize("path", list(SUCCESS_STATUS))
async def test_run_is_readable_as_soon_as_the_2xx_arrives(client, path):
    response = await post_raw(client, path, report_body(path))
    assert response.status == SUCCESS_STATUS[path]
    await stored_run(client, path, response)


async def test_every_2xx_of_a_concurrent_burst_is_readable_immediately(client):
    async def report_and_read(index: int) -> bool:
        run_id = f"burst-{index:03d}"
        body = report_body("/telemetry", random_id=run_id, execution_id=run_id)
        response = await post_raw(client, "/telemetry", body)
        assert response.status == 202
        return await read_run(client, run_id) is not None

    readable = await asyncio.gather(*(report_and_read(index) for index in range(60)))
    assert all(readable)
    assert await run_count(client) == 60


# The GraphQL twin of the REST validation -------------------------------------------------

REPORT_INSTALL = """
mutation ($input: InstallReportInput!) {
  reportInstall(input: $input) {
    __typename
    ... on ReportAccepted { runId }
    ... on ReportRejected { errors { field code message } }
  }
}
"""
VALID_INPUT = {"randomId": RANDOM_ID, "app": "debian", "status": "failed", "exitCode": 1}


async def report_install(client, **changes: Any) -> dict[str, Any]:
    report_input = {key: value for key, value in {**VALID_INPUT, **changes}.items() if value}
    data = await graphql_data(client, REPORT_INSTALL, {"input": report_input})
    result: dict[str, Any] = data["reportInstall"]
    return result


@pytest.mark.parametrize(
    ("changes", "code", "field"),
    [
        pytest.param({"exitCode": 256}, "out_of_range", "exitCode", id="exit-code-256"),
        pytest.param({"exitCode": -1}, "out_of_range", "exitCode", id="exit-code-negative"),
        pytest.param({"status": "exploded"}, "unknown_status", "status", id="unknown-status"),
        pytest.param({"randomId": None}, "missing_field", "randomId", id="missing-id"),
        pytest.param({"app": "a" * 500}, "too_long", "app", id="app-500-chars"),
    ],
)
async def test_report_install_rejects_bad_input_and_stores_nothing(client, changes, code, field):
    result = await report_install(client, **changes)
    assert result["__typename"] == "ReportRejected", result
    [error] = result["errors"]
    assert error["code"] == code
    # The field is named as the GraphQL input names it, not as the REST wire format does.
    assert error["field"] == field, error
    assert error["message"]
    assert await run_count(client) == 0


async def test_report_installs_batch_stores_only_its_valid_reports(client):
    query = """
    mutation ($inputs: [InstallReportInput!]!) {
      reportInstalls(inputs: $inputs) {
        __typename
        ... on ReportRejected { errors { code } }
      }
    }
    """
    inputs = [
        {**VALID_INPUT, "randomId": "batch-good-1"},
        {**VALID_INPUT, "randomId": "batch-bad", "exitCode": 999},
        {**VALID_INPUT, "randomId": "batch-unknown-status", "status": "exploded"},
        {**VALID_INPUT, "randomId": "batch-good-2"},
    ]
    data = await graphql_data(client, query, {"inputs": inputs})
    kinds = [result["__typename"] for result in data["reportInstalls"]]
    assert kinds == ["ReportAccepted", "ReportRejected", "ReportRejected", "ReportAccepted"]
    assert await read_run(client, "batch-bad") is None
    assert await read_run(client, "batch-unknown-status") is None
    assert await run_count(client) == 2
