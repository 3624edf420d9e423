"""Servers the benchmarks measure, started as real processes on 127.0.0.1."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
INSTALLSTATS = Path(sys.executable).parent / "installstats"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_ready(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited: {log.read_text()[-2000:]}")
        try:
            with urllib.request.urlopen(url, timeout=1) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"server not ready at {url}: {log.read_text()[-2000:]}")


@contextmanager
def running(command: list[str], env: dict[str, str], ready_url: str, log: Path) -> Iterator[int]:
    """Run a server until the block ends; yields its pid."""
    with log.open("wb") as output:
        process = subprocess.Popen(command, env=env, cwd=ROOT, stdout=output, stderr=output)
        try:
            _wait_ready(ready_url, process, log)
            yield process.pid
        finally:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


@contextmanager
def installstats(database_url: str, log: Path, **settings: str) -> Iterator[tuple[str, int]]:
    """``installstats serve`` on a free port; yields (base URL, pid)."""
    port = free_port()
    env = {
        **os.environ,
        "INSTALLSTATS_DATABASE_URL": database_url,
        "INSTALLSTATS_PORT": str(port),
        "INSTALLSTATS_HOST": "127.0.0.1",
        "INSTALLSTATS_LOG_LEVEL": "WARNING",
        **{f"INSTALLSTATS_{name.upper()}": value for name, value in settings.items()},
    }
    base = f"http://127.0.0.1:{port}"
    with running([str(INSTALLSTATS), "serve"], env, f"{base}/readyz", log) as pid:
        yield base, pid


@contextmanager
def bare_handler(log: Path) -> Iterator[str]:
    """The baseline handler (bench/bare_server.py); yields its base URL."""
    port = free_port()
    command = [sys.executable, str(ROOT / "bench" / "bare_server.py"), str(port)]
    base = f"http://127.0.0.1:{port}"
    probe = f"{base}/healthz"
    with log.open("wb") as output:
        process = subprocess.Popen(command, cwd=ROOT, stdout=output, stderr=output)
        try:
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline:
                try:
                    urllib.request.urlopen(probe, timeout=1)
                except urllib.error.HTTPError:
                    break  # it answers (404): up
                except OSError:
                    time.sleep(0.1)
            yield base
        finally:
            process.terminate()
            process.wait(timeout=10)


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def descendants(pid: int) -> list[int]:
    """``pid``'s child processes, their children, and so on: a server's memory includes
    any helper process it starts."""
    parents: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        parents.setdefault(parent, []).append(int(entry.name))
    found: list[int] = []
    waiting = [pid]
    while waiting:
        children = parents.get(waiting.pop(), [])
        found += children
        waiting += children
    return found


def tree_rss_mb(pid: int) -> float:
    """RSS of ``pid`` and any process it started (pages they share are counted in each)."""
    total = 0.0
    for member in [pid, *descendants(pid)]:
        with contextlib.suppress(OSError, RuntimeError):  # it exited meanwhile
            total += rss_mb(member)
    return total
