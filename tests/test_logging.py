"""The running service logs JSON lines and never a client address."""

from __future__ import annotations

import json
from pathlib import Path

import aiohttp
import pytest

from tests.utils.server_process import ServerProcess, success_report


@pytest.mark.slow
async def test_log_lines_are_json_without_client_addresses(
    database_url: str, tmp_path: Path
) -> None:
    server = ServerProcess(database_url, tmp_path)
    server.start()
    try:
        await server.wait_ready()
        async with aiohttp.ClientSession() as session:
            async with session.post(
                f"{server.base_url}/telemetry", json=success_report("log-check-1")
            ) as response:
                assert response.status == 202
            async with session.post(f"{server.base_url}/telemetry", data=b"{broken") as response:
                assert response.status == 400
        server.terminate()
        assert await server.wait_exit(10) == 0
    finally:
        server.stop()
    lines = [line for line in server.log_tail(1_000_000).splitlines() if line.strip()]
    records = [json.loads(line) for line in lines]  # every line is one JSON object
    access = [r for r in records if r.get("event") == "request"]
    assert {(r["method"], r["path"], r["status"]) for r in access} >= {
        ("POST", "/telemetry", 202),
        ("POST", "/telemetry", 400),
    }
    assert all("127.0.0.1" not in line for line in lines)
