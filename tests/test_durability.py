"""Ack after commit, for real: a 2xx survives SIGKILL of the server and a graceful SIGTERM.

The server runs as its own process (``installstats serve``) on a free 127.0.0.1 port
over the parametrized store; 16 concurrent clients post unique terminal reports.
Requests cut off by the kill may or may not be stored; every acknowledged one must be.
"""

from __future__ import annotations

import asyncio
import signal
import time

import aiohttp
import pytest

from tests.utils.server_process import (
    LoadResult,
    ServerProcess,
    post_unique_reports,
    stored_runs,
)

pytestmark = pytest.mark.slow

WORKERS = 16
LOAD_SECONDS = 1.5
MAX_REQUESTS = 4000
# Kill early if the server is fast, so the run stays bounded to a few thousand requests.
ACK_TARGET = 2500
MIN_ACKNOWLEDGED = 200
GRAPHQL_BATCH = 25  # aliases per document; the server allows 30


async def _load_then(server: ServerProcess, result: LoadResult, action) -> float:
    """Put the server under load, call ``action`` mid-load; return when it was called.

    The clients keep posting until they lose the server (or a safety deadline)."""
    deadline = time.monotonic() + 20
    load = asyncio.create_task(
        post_unique_reports(
            server.base_url,
            result,
            workers=WORKERS,
            max_requests=MAX_REQUESTS,
            keep_going=lambda: time.monotonic() < deadline,
        )
    )
    load_until = time.monotonic() + LOAD_SECONDS
    # Polls the clients' shared counters; no event to wait on.
    while (  # noqa: ASYNC110
        time.monotonic() < load_until and len(result.acknowledged) < ACK_TARGET and not load.done()
    ):
        await asyncio.sleep(0.01)
    assert not load.done(), f"clients stopped before the signal: {_summary(result)}"
    signalled_at = time.monotonic()
    action()
    await asyncio.wait_for(load, timeout=25)
    return signalled_at


def _summary(result: LoadResult) -> str:
    return (
        f"{len(result.acknowledged)} acknowledged, {len(result.answered_error)} answered "
        f"with an error {sorted(set(result.answered_error.values()))}, "
        f"{len(result.connection_failed)} without an answer"
    )


def _assert_real_load_until_server_gone(result: LoadResult) -> None:
    assert len(result.acknowledged) >= MIN_ACKNOWLEDGED, _summary(result)
    # Every client kept posting until it lost the server (not stopped by a cap).
    assert len(result.connection_failed) == WORKERS, _summary(result)
    assert not result.receipts_mismatched, result.receipts_mismatched[:5]
    # Only overload (503) may answer a valid report with an error.
    assert set(result.answered_error.values()) <= {503}, _summary(result)


def _assert_all_acknowledged_stored(result: LoadResult, stored: dict[str, tuple[str, int]]) -> None:
    missing = [rid for rid in result.acknowledged if rid not in stored]
    assert not missing, f"{len(missing)} acknowledged reports lost, e.g. {missing[:5]}"
    wrong = {rid: stored[rid] for rid in result.acknowledged if stored[rid] != ("success", 1)}
    assert not wrong, f"acknowledged runs stored wrongly: {list(wrong.items())[:5]}"
    invented = set(stored) - result.sent
    assert not invented, f"runs nobody sent: {sorted(invented)[:5]}"


async def _graphql_run_ids(base_url: str, ids: list[str]) -> set[str]:
    """The ids among ``ids`` that ``run(id:)`` finds, asked in aliased batches."""
    found: set[str] = set()
    async with aiohttp.ClientSession() as session:
        for start in range(0, len(ids), GRAPHQL_BATCH):
            batch = ids[start : start + GRAPHQL_BATCH]
            fields = " ".join(
                f'r{n}: run(id: "{rid}") {{ id eventCount }}' for n, rid in enumerate(batch)
            )
            async with session.post(
                f"{base_url}/graphql", json={"query": f"{{ {fields} }}"}
            ) as response:
                assert response.status == 200, await response.text()
                body = await response.json()
            assert "errors" not in body, body["errors"]
            found |= {run["id"] for run in body["data"].values() if run is not None}
    return found


async def test_every_acknowledged_report_survives_sigkill_mid_load(database_url, tmp_path):
    server = ServerProcess(database_url, tmp_path)
    try:
        server.start()
        await server.wait_ready()
        writer_processes = server.child_pids()
        assert writer_processes, "no ingest writer process (INSTALLSTATS_INGEST_WRITER=process)"
        result = LoadResult()
        killed_at = await _load_then(server, result, server.kill)
        assert await server.wait_exit(5) == -signal.SIGKILL
        # Orphaned, the writer finishes the batch it holds (if any) and exits.
        assert await server.wait_gone(writer_processes, 10) == []

        _assert_real_load_until_server_gone(result)
        in_flight = result.failed_in_flight(killed_at)
        assert in_flight, f"no request was cut off by the kill: {_summary(result)}"

        server.start()
        await server.wait_ready()
        _assert_all_acknowledged_stored(result, await stored_runs(database_url))
        # The restarted server itself serves the reports acknowledged just before the kill.
        last_acknowledged = result.acknowledged[-2 * GRAPHQL_BATCH :]
        assert await _graphql_run_ids(server.base_url, last_acknowledged) == set(last_acknowledged)

        # It takes new reports, and the old ones are still there.
        after = LoadResult()
        await post_unique_reports(
            server.base_url, after, workers=4, max_requests=20, keep_going=lambda: True
        )
        assert len(after.acknowledged) == 20, _summary(after)
        stored = await stored_runs(database_url)
        _assert_all_acknowledged_stored(after, {rid: stored[rid] for rid in after.sent})
        assert set(result.acknowledged) <= set(stored)
        print(
            f"\n[{server.database_url.split(':')[0]}] SIGKILL: {_summary(result)}, "
            f"{len(in_flight)} cut mid-request, {len(stored)} runs after restart"
        )
    finally:
        server.stop()


async def test_sigterm_under_load_exits_promptly_keeping_acknowledged_reports(
    database_url, tmp_path
):
    server = ServerProcess(database_url, tmp_path)
    try:
        server.start()
        await server.wait_ready()
        writer_processes = server.child_pids()
        result = LoadResult()
        terminated_at = await _load_then(server, result, server.terminate)
        code = await server.wait_exit(10 - (time.monotonic() - terminated_at))
        assert code is not None, (
            f"still running 10 s after SIGTERM: {_summary(result)}\n{server.log_tail()}"
        )
        assert code == 0, f"exit code {code} after SIGTERM:\n{server.log_tail()}"
        assert await server.wait_gone(writer_processes, 1) == []

        _assert_real_load_until_server_gone(result)
        _assert_all_acknowledged_stored(result, await stored_runs(database_url))
        print(
            f"\n[{server.database_url.split(':')[0]}] SIGTERM: {_summary(result)}, "
            f"exited after {time.monotonic() - terminated_at:.1f} s"
        )
    finally:
        server.stop()
