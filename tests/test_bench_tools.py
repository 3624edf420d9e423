"""The benchmark's own arithmetic: parsing wrk's report and judging targets."""

from __future__ import annotations

import pytest

from bench import load, report

WRK_OUTPUT = """Running 8s test @ http://127.0.0.1:8202/telemetry
  1 threads and 32 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency    35.59ms   13.76ms 153.78ms   80.90%
    Req/Sec     0.92k    93.32     1.10k    73.00%
  Latency Distribution
     50%   32.48ms
     75%   40.29ms
     90%   51.25ms
     99%  101.27ms
  9151 requests in 10.01s, 2.05MB read
  Socket errors: connect 0, read 2, write 0, timeout 1
  Non-2xx or 3xx responses: 4
Requests/sec:    914.09
Transfer/sec:    209.71KB
"""


def test_wrk_report_is_read_into_rate_latency_and_failures() -> None:
    result = load.parse_wrk(WRK_OUTPUT)
    assert result.requests_per_second == pytest.approx(914.09)
    assert result.p99_ms == pytest.approx(101.27)
    assert (result.requests, result.non_2xx, result.socket_errors) == (9151, 4, 3)


def test_targets_are_judged_as_ratios_to_the_same_run_baseline() -> None:
    rows = [
        report.at_least("ingest", 3000, "req/s", 10000, 0.30),
        report.at_least("ingest slow", 2000, "req/s", 10000, 0.30),
        report.at_most("p99", 50, "ms", 50),
        report.ratio_at_most("growth", 45, "ms", 30, 1.5),
    ]
    assert [row.passed for row in rows] == [True, False, True, True]
    table = report.render(rows)
    assert "0.30×" in table and "FAIL" in table and table.count("PASS") == 3
