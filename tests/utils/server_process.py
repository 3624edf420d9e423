"""A real ``installstats serve`` process, and concurrent clients to put it under load.

Used by the durability tests: the server runs as a child process (so it can be
SIGKILLed or SIGTERMed) on 127.0.0.1 and a free port; its stderr goes to a file
whose tail is shown when it does not become ready.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import orjson
from sqlalchemy import select

from storage.engine import open_database
from storage.model.tables import RUNS
from tests.utils.client_payloads import CONTAINER_METADATA, PLATFORM_METADATA, host_event

PROJECT_ROOT = Path(__file__).resolve().parents[2]
SERVE = "from cli.main import main; main(['serve'])"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class ServerProcess:
    """``installstats serve`` on ``database_url``; start() and stop() may repeat (restart)."""

    def __init__(self, database_url: str, log_dir: Path) -> None:
        self.database_url = database_url
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self._log_dir = log_dir
        self._starts = 0
        self._process: subprocess.Popen[bytes] | None = None
        self._log_path: Path | None = None

    @property
    def process(self) -> subprocess.Popen[bytes]:
        assert self._process is not None, "server not started"
        return self._process

    def start(self) -> None:
        assert self._process is None or self._process.poll() is not None, "already running"
        self._starts += 1
        self._log_path = self._log_dir / f"server-{self._starts}.log"
        env = {
            key: value for key, value in os.environ.items() if not key.startswith("INSTALLSTATS")
        }
        env |= {
            "INSTALLSTATS_DATABASE_URL": self.database_url,
            "INSTALLSTATS_HOST": "127.0.0.1",
            "INSTALLSTATS_PORT": str(self.port),
        }
        with self._log_path.open("wb") as log:
            self._process = subprocess.Popen(
                [sys.executable, "-c", SERVE],
                cwd=PROJECT_ROOT,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    def log_tail(self, chars: int = 4000) -> str:
        if self._log_path is None or not self._log_path.exists():
            return "<no log>"
        return self._log_path.read_text(errors="replace")[-chars:]

    async def wait_ready(self, within: float = 20.0) -> None:
        """Poll GET /readyz until it answers 200; fail with the server's log if it never does."""
        deadline = time.monotonic() + within
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=2)) as session:
            while time.monotonic() < deadline:
                if self.process.poll() is not None:
                    raise AssertionError(
                        f"server exited with {self.process.returncode} before ready:\n"
                        + self.log_tail()
                    )
                try:
                    async with session.get(f"{self.base_url}/readyz") as response:
                        if response.status == 200:
                            return
                except (aiohttp.ClientError, TimeoutError):
                    pass
                await asyncio.sleep(0.1)
        raise AssertionError(f"server not ready within {within} s:\n{self.log_tail()}")

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)

    def child_pids(self) -> list[int]:
        """The server's child processes (its ingest writer process)."""
        pid = self.process.pid
        found: list[int] = []
        for task in Path(f"/proc/{pid}/task").iterdir():
            found += [int(child) for child in (task / "children").read_text().split()]
        return found

    def terminate(self) -> None:
        self.process.send_signal(signal.SIGTERM)

    async def wait_exit(self, within: float) -> int | None:
        """The exit code, or None when the process is still running after ``within`` s."""
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            code = self.process.poll()
            if code is not None:
                return code
            await asyncio.sleep(0.05)
        return self.process.poll()

    async def wait_gone(self, pids: list[int], within: float) -> list[int]:
        """Those of ``pids`` still running after ``within`` s."""
        deadline = time.monotonic() + within
        while True:
            running = [pid for pid in pids if _running(pid)]
            if not running or time.monotonic() > deadline:
                return running
            await asyncio.sleep(0.05)

    def stop(self) -> None:
        """Kill if still running and reap; safe to call in ``finally``."""
        if self._process is None:
            return
        if self._process.poll() is None:
            self._process.kill()
        self._process.wait(timeout=10)


def success_report(random_id: str) -> dict[str, Any]:
    """A terminal /telemetry body as the current client sends it, unique by ``random_id``."""
    return host_event(
        random_id,
        "success",
        nsapp="durability",
        metadata=("exit_code", "install_duration", *CONTAINER_METADATA, *PLATFORM_METADATA),
        install_duration=42,
    )


@dataclass
class LoadResult:
    """What the clients saw: every id sent, split by how its request ended."""

    acknowledged: list[str] = field(default_factory=list)  # 2xx, in answer order
    answered_error: dict[str, int] = field(default_factory=dict)  # id -> non-2xx status
    # id -> (monotonic send time, exception name): no HTTP answer at all
    connection_failed: dict[str, tuple[float, str]] = field(default_factory=dict)
    receipts_mismatched: list[tuple[str, object]] = field(default_factory=list)

    @property
    def sent(self) -> set[str]:
        return {*self.acknowledged, *self.answered_error, *self.connection_failed}

    def failed_in_flight(self, since: float) -> dict[str, str]:
        """Requests already sent at ``since`` that then got no answer (cut mid-request)."""
        return {
            rid: error
            for rid, (sent_at, error) in self.connection_failed.items()
            if sent_at <= since
        }


async def post_unique_reports(
    base_url: str,
    result: LoadResult,
    *,
    workers: int,
    max_requests: int,
    keep_going: Callable[[], bool],
) -> None:
    """``workers`` clients post fresh success reports until ``keep_going()`` turns false,
    ``max_requests`` have been sent, or a client loses the server (connection error)."""
    sent = 0
    timeout = aiohttp.ClientTimeout(total=10)
    connector = aiohttp.TCPConnector(limit=workers)

    async def client(session: aiohttp.ClientSession) -> None:
        nonlocal sent
        while keep_going() and sent < max_requests:
            sent += 1
            rid = str(uuid.uuid4())
            started = time.monotonic()
            try:
                async with session.post(
                    f"{base_url}/telemetry", json=success_report(rid)
                ) as response:
                    body = await response.read()
                    if 200 <= response.status < 300:
                        result.acknowledged.append(rid)
                        receipt_id = _receipt_run_id(body)
                        if receipt_id != rid:
                            result.receipts_mismatched.append((rid, receipt_id))
                    else:
                        result.answered_error[rid] = response.status
            except (aiohttp.ClientError, TimeoutError, OSError) as exc:
                result.connection_failed[rid] = (started, type(exc).__name__)
                return

    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        await asyncio.gather(*(client(session) for _ in range(workers)))


def _receipt_run_id(body: bytes) -> object:
    try:
        return orjson.loads(body).get("run_id")
    except (orjson.JSONDecodeError, AttributeError):
        return body[:200]


async def stored_runs(database_url: str) -> dict[str, tuple[str, int]]:
    """Every run in the store, read directly: id -> (normalised status, event count)."""
    database = open_database(database_url)
    try:
        async with database.reader.connect() as conn:
            rows = await conn.execute(
                select(RUNS.c.id, RUNS.c.status_normalised, RUNS.c.event_count)
            )
            return {row.id: (row.status_normalised, row.event_count) for row in rows}
    finally:
        await database.dispose()


def _running(pid: int) -> bool:
    """Alive and not a zombie (an exited child its parent has not reaped yet)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"
