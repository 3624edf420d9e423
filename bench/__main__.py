"""``python -m bench``: every performance target, on each store, as ratios in one run.

Ingest: wrk against ``installstats serve``, each figure right after the bare aiohttp
handler (its baseline, in the baseline column); GraphQL: ``{ __typename }`` and
``reportInstall``; dashboards: seeded tiers of runs/10 and runs, served side by side
and queried in turn, five dashboard queries over the last 30 and 90 days; seeding time
and memory. Prints the table and exits non-zero when a target is missed.
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


def _ingest(store: str, url: str, bare_url: str, seconds: int, workdir: Path) -> list[report.Row]:
    """Each figure's baseline is the bare handler measured just before it: this host's
    speed drifts by 10-20 % over minutes, and a ratio should not depend on when."""
    log = workdir / f"ingest-{store}.log"

    def bare() -> float:
        return run_wrk(bare_url, "telemetry.lua", seconds).requests_per_second

    with processes.installstats(url, log) as (base, pid):
        ingest_baseline = bare()
        ingest = run_wrk(f"{base}/telemetry", "telemetry.lua", seconds)
        rss = processes.tree_rss_mb(pid)
        typename_baseline = bare()
        typename = run_wrk(f"{base}/graphql", "typename.lua", seconds)
        mutation_baseline = bare()
        mutation = run_wrk(f"{base}/graphql", "mutation.lua", seconds)
    return [
        report.at_least(
            f"{store}: POST /telemetry",
            ingest.requests_per_second,
            "req/s",
            ingest_baseline,
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
        report.Row(
            f"{store}: {{ __typename }}", typename.requests_per_second, "req/s", typename_baseline
        ),
        report.at_least(
            f"{store}: reportInstall mutation",
            mutation.requests_per_second,
            "req/s",
            mutation_baseline,
            0.07,
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
    """Both tiers are seeded, then served at once and queried in turn (small, large,
    small, …), so that the growth ratios do not depend on the host's drift."""
    rows: list[report.Row] = []
    tiers = (runs // 10, runs)
    latency: dict[tuple[int, str, int], float] = {}
    seeding: dict[int, tuple[float, float]] = {}
    with contextlib.ExitStack() as stack:
        urls = {}
        for tier in tiers:
            urls[tier] = stack.enter_context(fresh_store(store, workdir, f"dash{tier}"))
            seeding[tier] = _seed(urls[tier], tier, days, workdir / f"seed-{store}-{tier}.log")
        endpoints = []
        for tier in tiers:
            log = workdir / f"dash-{store}-{tier}.log"
            base, _ = stack.enter_context(processes.installstats(urls[tier], log))
            endpoints.append(f"{base}/graphql")
        small, large = tiers
        latency[(small, "baseline", 0)], latency[(large, "baseline", 0)] = (
            dashboards.paired_medians(endpoints, dashboards.BASELINE, None)
        )
        for name, query in dashboards.QUERIES.items():
            for window in (30, 90):
                latency[(small, name, window)], latency[(large, name, window)] = (
                    dashboards.paired_medians(endpoints, query, window)
                )
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
            bare_url = f"{bare_base}/telemetry"
            for store in stores:
                with fresh_store(store, args.workdir, "ingest") as url:
                    rows += _ingest(store, url, bare_url, args.seconds, args.workdir)
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
