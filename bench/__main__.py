"""``python -m bench``: every performance target, on each store, as ratios in one run.

Ingest: wrk against the bare aiohttp handler (baseline) and against ``installstats
serve``; GraphQL: ``{ __typename }`` and ``reportInstall``; dashboards: seeded tiers of
runs/10 and runs, five dashboard queries over the last 30 and 90 days; seeding time and
memory. Prints the table and exits non-zero when a target is missed.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

from bench import dashboards, processes, report
from bench.load import run_wrk, wrk_available
from bench.stores import fresh_store, postgres_available

INGEST_TARGETS = {"sqlite": 0.30, "postgresql": 0.25}


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--stores", default="sqlite,postgresql")
    parser.add_argument("--runs", type=int, default=1_000_000, help="large dashboard tier")
    parser.add_argument("--days", type=int, default=365, help="days the seeded runs span")
    parser.add_argument("--seconds", type=int, default=10, help="length of each wrk run")
    parser.add_argument("--skip-ingest", action="store_true")
    parser.add_argument("--skip-dashboards", action="store_true")
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/installstats-bench"))
    return parser.parse_args()


def _ingest(store: str, url: str, bare: float, seconds: int, workdir: Path) -> list[report.Row]:
    log = workdir / f"ingest-{store}.log"
    with processes.installstats(url, log) as (base, pid):
        ingest = run_wrk(f"{base}/telemetry", "telemetry.lua", seconds)
        rss = processes.tree_rss_mb(pid)
        typename = run_wrk(f"{base}/graphql", "typename.lua", seconds)
        mutation = run_wrk(f"{base}/graphql", "mutation.lua", seconds)
    return [
        report.at_least(
            f"{store}: POST /telemetry",
            ingest.requests_per_second,
            "req/s",
            bare,
            INGEST_TARGETS[store],
        ),
        report.at_most(f"{store}: POST /telemetry p99", ingest.p99_ms, "ms", 50),
        report.at_most(
            f"{store}: POST /telemetry non-2xx + errors",
            ingest.non_2xx + ingest.socket_errors,
            "",
            0,
        ),
        report.at_most(f"{store}: server RSS after ingest", rss, "MB", 200),
        report.Row(f"{store}: {{ __typename }}", typename.requests_per_second, "req/s", bare),
        report.at_least(
            f"{store}: reportInstall mutation", mutation.requests_per_second, "req/s", bare, 0.07
        ),
    ]


def _seed(url: str, runs: int, days: int, log: Path) -> tuple[float, float]:
    """Seconds and peak RSS (MB) of ``installstats seed``."""
    env = {**os.environ, "INSTALLSTATS_DATABASE_URL": url, "INSTALLSTATS_LOG_LEVEL": "WARNING"}
    command = [
        str(processes.INSTALLSTATS),
        "seed",
        "--runs",
        str(runs),
        "--days",
        str(days),
        "--seed",
        "1",
    ]
    started = time.perf_counter()
    with log.open("wb") as output:
        process = subprocess.Popen(command, env=env, stdout=output, stderr=output)
        peak = [0.0]

        def watch() -> None:
            while process.poll() is None:
                with contextlib.suppress(OSError, RuntimeError):
                    peak[0] = max(peak[0], processes.rss_mb(process.pid))
                time.sleep(0.2)

        watcher = threading.Thread(target=watch, daemon=True)
        watcher.start()
        if process.wait() != 0:
            raise RuntimeError(f"seed failed: {log.read_text()[-2000:]}")
        watcher.join()
    return time.perf_counter() - started, peak[0]


def _dashboards(store: str, runs: int, days: int, workdir: Path) -> list[report.Row]:
    rows: list[report.Row] = []
    tiers = (runs // 10, runs)
    latency: dict[tuple[int, str, int], float] = {}
    seeding: dict[int, tuple[float, float]] = {}
    for tier in tiers:
        with fresh_store(store, workdir, f"dash{tier}") as url:
            seeding[tier] = _seed(url, tier, days, workdir / f"seed-{store}-{tier}.log")
            with processes.installstats(url, workdir / f"dash-{store}-{tier}.log") as (base, _):
                endpoint = f"{base}/graphql"
                latency[(tier, "baseline", 0)] = dashboards.median_ms(
                    endpoint, dashboards.BASELINE, None
                )
                for name, query in dashboards.QUERIES.items():
                    for window in (30, 90):
                        latency[(tier, name, window)] = dashboards.median_ms(
                            endpoint, query, window
                        )
    small, large = tiers
    peak = seeding[large][1]
    for tier in tiers:
        name = f"{store}: seed {tier:,} runs"
        if store == "sqlite" and tier == 1_000_000:  # the bulk target
            rows.append(report.at_most(name, seeding[tier][0], "s", 120))
        else:
            rows.append(report.Row(name, seeding[tier][0], "s"))
    rows.append(
        report.ratio_at_most(
            f"{store}: seed peak RSS {large:,} vs {small:,}", peak, "MB", seeding[small][1], 1.5
        )
    )
    rows.append(
        report.Row(f"{store}: {{ __typename }} median", latency[(large, "baseline", 0)], "ms")
    )
    for name in dashboards.QUERIES:
        for window in (30, 90):
            value = latency[(large, name, window)]
            smaller = latency[(small, name, window)]
            rows.append(report.at_most(f"{store}: {name} {window} d @ {large:,}", value, "ms", 30))
            rows.append(
                report.ratio_at_most(
                    f"{store}: {name} {window} d {large:,} vs {small:,}", value, "ms", smaller, 1.5
                )
            )
    return rows


def main() -> int:
    args = _arguments()
    args.workdir.mkdir(parents=True, exist_ok=True)
    stores = [s.strip() for s in args.stores.split(",") if s.strip()]
    if "postgresql" in stores and not postgres_available():
        print("PostgreSQL not reachable: measuring SQLite only", file=sys.stderr)
        stores.remove("postgresql")
    rows: list[report.Row] = []
    if not args.skip_ingest:
        if not wrk_available():
            print("wrk is not installed (apt-get install wrk)", file=sys.stderr)
            return 2
        with processes.bare_handler(args.workdir / "bare.log") as bare_base:
            bare = run_wrk(f"{bare_base}/telemetry", "telemetry.lua", args.seconds)
        rows.append(
            report.Row("bare aiohttp handler (baseline)", bare.requests_per_second, "req/s")
        )
        for store in stores:
            with fresh_store(store, args.workdir, "ingest") as url:
                rows += _ingest(store, url, bare.requests_per_second, args.seconds, args.workdir)
            print(report.render(rows), flush=True)
    if not args.skip_dashboards:
        for store in stores:
            rows += _dashboards(store, args.runs, args.days, args.workdir)
            print(report.render(rows), flush=True)
    print()
    print(report.render(rows))
    failed = [row for row in rows if row.passed is False]
    print(f"\n{len(failed)} targets missed of {sum(r.passed is not None for r in rows)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
