"""The REST shim has one error shape: every 4xx/5xx of every ingest endpoint is
``application/json`` with exactly ``{"error": {"code": str, "message": str, "field": str|null}}``.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any, cast

import pytest

from rest.errors import error_body, error_response
from server import create_app
from service.settings import Settings
from tests.utils.bad_input import (
    POST_ENDPOINTS,
    SUCCESS_STATUS,
    error_of,
    post_raw,
    report_body,
    run_count,
)

LIMIT: int = Settings.model_fields["max_body_bytes"].default  # the settings fixture keeps it

# HTTP status of each error code the shim answers with.
STATUS_OF_CODE = {
    "malformed_json": 400,
    "body_too_large": 413,
    "missing_field": 422,
    "out_of_range": 422,
    "invalid_number": 422,
    "invalid_type": 422,
    "unknown_status": 422,
    "too_long": 422,
    "invalid_timestamp": 422,
    "invalid_identifier": 422,
    "overloaded": 503,
}


def test_error_body_has_exactly_code_message_and_field():
    assert error_body("out_of_range", "exit_code must be between 0 and 255", "exit_code") == {
        "error": {
            "code": "out_of_range",
            "message": "exit_code must be between 0 and 255",
            "field": "exit_code",
        }
    }


def test_error_body_field_defaults_to_null():
    body = error_body("malformed_json", "empty body")
    assert set(body) == {"error"}
    error = cast("dict[str, object]", body["error"])  # error_body builds this dict
    assert set(error) == {"code", "message", "field"}
    assert error["field"] is None


def test_error_response_is_json_carrying_the_error_body_and_headers():
    response = error_response(503, "overloaded", "busy", headers={"Retry-After": "2"})
    assert response.status == 503
    assert response.content_type == "application/json"
    assert response.headers["Retry-After"] == "2"
    assert isinstance(response.body, bytes)
    assert json.loads(response.body) == error_body("overloaded", "busy")


def oversized(path: str) -> bytes:
    body = report_body(path)
    return body[:-1] + b" " * (LIMIT + 1 - len(body)) + b"}"


# One body per kind of refusal; each is refused on every endpoint.
REFUSALS: dict[str, tuple[Any, str]] = {
    "malformed": (lambda path: b'{"random_id": "r1", "nsapp": ', "malformed_json"),
    "not-an-object": (lambda path: b'["installing"]', "malformed_json"),
    "empty": (lambda path: b"", "malformed_json"),
    "unknown-status": (lambda path: report_body(path, status="exploded"), "unknown_status"),
    "exit-code-out-of-range": (lambda path: report_body(path, exit_code=256), "out_of_range"),
    "wrong-type": (lambda path: report_body(path, status={"s": 1}), "invalid_type"),
    "bad-timestamp": (lambda path: report_body(path, timestamp="soon"), "invalid_timestamp"),
    "too-large": (oversized, "body_too_large"),
}


@pytest.mark.parametrize("refusal", list(REFUSALS))
@pytest.mark.parametrize("path", POST_ENDPOINTS)
async def test_every_refusal_of_every_endpoint_has_the_one_error_shape(client, path, refusal):
    make_body, code = REFUSALS[refusal]
    response = await post_raw(client, path, make_body(path))
    error = await error_of(response)
    assert error["code"] == code
    assert response.status == STATUS_OF_CODE[code]
    assert await run_count(client) == 0


@pytest.mark.parametrize("path", POST_ENDPOINTS)
async def test_missing_field_names_the_field(client, path):
    body = report_body(path, drop=("random_id", "status"))
    response = await post_raw(client, path, body)
    assert response.status == 422
    error = await error_of(response)
    assert error["code"] == "missing_field"
    assert error["field"] in {"random_id", "status"}


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("exit_code", "0" * 100_000 + "300"),
        ("timestamp", "x" * 100_000),
        ("has_arm", "x" * 100_000),
        ("disk_size", "x" * 100_000),
    ],
)
async def test_error_message_does_not_echo_a_huge_value(client, field, value):
    body = report_body("/telemetry", **{field: value})
    response = await post_raw(client, "/telemetry", body)
    assert response.status == 422
    error = await error_of(response)
    assert error["field"] == field
    assert len(error["message"]) <= 300, f"{len(error['message'])} characters"


@pytest.mark.parametrize("path", POST_ENDPOINTS)
async def test_a_value_the_store_cannot_hold_never_gets_a_non_json_answer(client, path):
    # PostgreSQL text cannot hold U+0000; the answer may be a 2xx (stored) or a 4xx in
    # the error shape, never a bare 500.
    body = report_body(path, error="bad \u0000 byte", status="failed", exit_code=1)
    response = await post_raw(client, path, body)
    if response.status >= 400:
        await error_of(response)
    else:
        assert response.status == SUCCESS_STATUS[path]


async def test_overload_answers_503_in_the_error_shape_and_drops_nothing_silently(
    aiohttp_client, database_url
):
    settings = Settings(database_url=database_url, ingest_queue_size=1, ingest_batch_size=1)
    client = await aiohttp_client(create_app(settings))

    async def report(index: int):
        path = POST_ENDPOINTS[index % len(POST_ENDPOINTS)]
        run_id = f"overload-{index:04d}"
        return path, await post_raw(client, path, report_body(path, random_id=run_id))

    answered_2xx = 0
    overloaded = []
    for round_start in range(0, 1000, 100):
        answers = await asyncio.gather(*(report(i) for i in range(round_start, round_start + 100)))
        for path, response in answers:
            if response.status == 503:
                overloaded.append(response)
            else:
                assert response.status == SUCCESS_STATUS[path], await response.text()
                answered_2xx += 1
        if overloaded:
            break
    assert overloaded, "a queue of one never overflowed under 100 concurrent reports"
    for response in overloaded:
        error = await error_of(response)
        assert (error["code"], error["field"]) == ("overloaded", None)
        assert int(response.headers["Retry-After"]) > 0
    # Every 2xx is a stored run; every 503 stored nothing.
    assert await run_count(client) == answered_2xx
