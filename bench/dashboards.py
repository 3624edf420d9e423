"""Dashboard query latency through HTTP, sequential like a polling dashboard."""

from __future__ import annotations

import json
import statistics
import time
import urllib.request
from datetime import UTC, datetime, timedelta

QUERIES = {
    "summary": "query($f: RunFilter) { summary(filter: $f) { runs events success failed aborted "
    "unknown unfinished inProgress successRate { value low high } } }",
    "appStats": "query($f: RunFilter) { appStats(filter: $f, first: 50) { app runs success failed "
    "aborted successRate { value } failureRate { value } } }",
    "errorHistogram": "query($f: RunFilter) { errorHistogram(filter: $f) { total other buckets "
    "{ key exitCode category description count share apps sampleError } } }",
    "timeSeries": "query($f: RunFilter) { timeSeries(filter: $f, interval: DAY) { key points "
    "{ start runs success failed aborted unknown successRate { value } } } }",
    "distribution": "query($f: RunFilter) { distribution(dimension: OS_VERSION, filter: $f) "
    "{ total other missing buckets { key count share } } }",
}
BASELINE = "{ __typename }"


def _post(url: str, query: str, variables: dict[str, object]) -> float:
    body = json.dumps({"query": query, "variables": variables}).encode()
    request = urllib.request.Request(
        url, data=body, headers={"Content-Type": "application/json"}, method="POST"
    )
    started = time.perf_counter()
    with urllib.request.urlopen(request, timeout=60) as response:
        answer = json.loads(response.read())
    elapsed = (time.perf_counter() - started) * 1000
    if "errors" in answer:
        raise RuntimeError(f"query failed: {answer['errors']}")
    return elapsed


def paired_medians(
    urls: list[str], query: str, days: int | None, repeat: int = 21
) -> tuple[float, ...]:
    """Median latency at each of ``urls``, asked in turn (a, b, a, b, …) after three
    warm-up requests each, so that a slower spell of the host weighs on all alike."""
    variables = _range(days)
    for url in urls:
        for _ in range(3):
            _post(url, query, variables)
    samples: list[list[float]] = [[] for _ in urls]
    for _ in range(repeat):
        for url, taken in zip(urls, samples, strict=True):
            taken.append(_post(url, query, variables))
    return tuple(statistics.median(taken) for taken in samples)


def _range(days: int | None) -> dict[str, object]:
    if days is None:
        return {}
    now = datetime.now(UTC)
    return {"f": {"since": (now - timedelta(days=days)).isoformat(), "until": now.isoformat()}}
