"""HTTP load with wrk (C, one thread): the load generator must not eat the server's CPU."""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

SCRIPTS = Path(__file__).resolve().parent / "wrk"


@dataclass(frozen=True)
class LoadResult:
    requests_per_second: float
    p99_ms: float
    requests: int
    non_2xx: int
    socket_errors: int


def wrk_available() -> bool:
    return shutil.which("wrk") is not None


def run_wrk(url: str, script: str, seconds: int = 10, connections: int = 32) -> LoadResult:
    command = [
        "wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency", "--timeout", "10s",
        "-s", str(SCRIPTS / script), url,
    ]  # fmt: skip
    return parse_wrk(subprocess.run(command, capture_output=True, text=True, check=True).stdout)


def parse_wrk(output: str) -> LoadResult:
    """wrk's text report (with --latency) as numbers."""
    return LoadResult(
        requests_per_second=float(_find(r"Requests/sec:\s+([\d.]+)", output)),
        p99_ms=_latency_ms(_find(r"\s99%\s+([\d.]+\w+)", output)),
        requests=int(_find(r"(\d+) requests in", output)),
        non_2xx=int(_find(r"Non-2xx or 3xx responses: (\d+)", output, "0")),
        socket_errors=sum(
            int(n) for n in re.findall(r"(?:connect|read|write|timeout) (\d+)", output)
        ),
    )


def _find(pattern: str, text: str, default: str | None = None) -> str:
    match = re.search(pattern, text)
    if match is None:
        if default is not None:
            return default
        raise RuntimeError(f"wrk output without {pattern!r}:\n{text}")
    return match.group(1)


def _latency_ms(text: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(\w+)", text).groups()  # type: ignore[union-attr]
    return float(number) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]
