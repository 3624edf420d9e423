"""Helpers for the bad-input, error-shape and GraphQL-limit tests.

Raw POSTs (exact bytes, chosen Content-Type), the REST error shape, and GraphQL
reads of what the store holds afterwards.
"""

from __future__ import annotations

import json
from typing import Any

from aiohttp import ClientResponse
from aiohttp.test_utils import TestClient
from aiohttp.web import Application, Request

AppClient = TestClient[Request, Application]

# Every REST ingest endpoint and the 2xx it answers for a stored report.
SUCCESS_STATUS: dict[str, int] = {
    "/telemetry": 202,
    "/upload": 201,
    "/upload/updatestatus": 200,
    "/install": 201,
    "/update": 201,
}
POST_ENDPOINTS = tuple(SUCCESS_STATUS)

RANDOM_ID = "3f1c2b9e-0d7a-4c55-9e61-2a8f4b7c9d10"

# A minimal valid body per endpoint, as each client generation sends it.
VALID_FIELDS: dict[str, dict[str, Any]] = {
    "/telemetry": {
        "random_id": RANDOM_ID,
        "execution_id": RANDOM_ID,
        "type": "lxc",
        "nsapp": "debian",
        "status": "installing",
    },
    "/upload": {
        "random_id": RANDOM_ID,
        "type": "lxc",
        "nsapp": "debian",
        "status": "installing",
        "ct_type": 1,
        "disk_size": 4,
    },
    "/upload/updatestatus": {"random_id": RANDOM_ID, "status": "done", "error": ""},
    "/install": {"random_id": RANDOM_ID, "ctid": 101, "nsapp": "debian", "status": "success"},
    "/update": {"random_id": RANDOM_ID, "ctid": 101, "nsapp": "debian", "status": "success"},
}

ERROR_KEYS = {"code", "message", "field"}


def report_body(path: str, *, drop: tuple[str, ...] = (), **changes: Any) -> bytes:
    """The endpoint's valid body with ``drop`` keys removed and ``changes`` applied."""
    fields = {key: value for key, value in VALID_FIELDS[path].items() if key not in drop}
    fields.update(changes)
    return json.dumps(fields).encode()


async def post_raw(
    client: AppClient, path: str, body: Any, content_type: str | None = "application/json"
) -> ClientResponse:
    """POST exactly ``body``; ``content_type=None`` sends no Content-Type header at all."""
    if content_type is None:
        return await client.post(path, data=body, skip_auto_headers=("Content-Type",))
    return await client.post(path, data=body, headers={"Content-Type": content_type})


async def error_of(response: ClientResponse) -> dict[str, Any]:
    """Assert the one REST error shape and return its inner object."""
    assert response.content_type == "application/json", await response.text()
    payload = json.loads(await response.read())
    assert isinstance(payload, dict) and set(payload) == {"error"}, payload
    error = payload["error"]
    assert isinstance(error, dict) and set(error) == ERROR_KEYS, error
    assert isinstance(error["code"], str) and error["code"], error
    assert isinstance(error["message"], str) and error["message"], error
    assert error["field"] is None or isinstance(error["field"], str), error
    return error


async def graphql(
    client: AppClient, query: str, variables: dict[str, Any] | None = None
) -> tuple[int, dict[str, Any]]:
    """HTTP status and JSON payload of one GraphQL POST."""
    response = await client.post("/graphql", json={"query": query, "variables": variables or {}})
    return response.status, await response.json()


async def graphql_data(
    client: AppClient, query: str, variables: dict[str, Any] | None = None
) -> dict[str, Any]:
    """``data`` of a GraphQL request that must succeed."""
    status, payload = await graphql(client, query, variables)
    assert status == 200, payload
    assert "errors" not in payload, payload["errors"]
    data: dict[str, Any] = payload["data"]
    return data


async def run_count(client: AppClient) -> int:
    """How many runs the store holds, read through GraphQL."""
    data = await graphql_data(client, "{ runs(first: 0) { totalCount } }")
    count = data["runs"]["totalCount"]
    assert isinstance(count, int)
    return count


RUN_QUERY = """
query ($id: ID!) {
  run(id: $id) {
    id kind app type status outcome exitCode exitCodeInferred errorCategory error
    ctid ctType diskGb cores ramMb osType method hasArm appVersion eventCount
    events { status source }
  }
}
"""


async def read_run(client: AppClient, run_id: str) -> dict[str, Any] | None:
    """The run as GraphQL shows it, or None when it is not stored."""
    data = await graphql_data(client, RUN_QUERY, {"id": run_id})
    run: dict[str, Any] | None = data["run"]
    return run
