"""Deterministic demo runs and their events, in time order, a bounded chunk at a time.

Everything is drawn from ``random.Random`` instances seeded from the seed (see
SeedPlan), so a seed and a ``now`` always give the same rows. Runs are built directly
in their merged form (the columns the live merge derives from their events) because
validating and folding ~3 million reports one by one would take minutes;
tests/test_bulk.py folds generated events through the real ``build_report`` and
``fold_all`` and checks it gets the same runs.
"""

from __future__ import annotations

import functools
import hashlib
import random
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, NamedTuple

import orjson

from ingest.run_record import RunRecord
from ingest.statuses import STATUS_PRIORITY, outcome_for
from seed import results
from seed.apps import APPS, App, popularity
from seed.hosts import Metadata, Population, update_metadata
from seed.results import AppTraits, Result
from seed.timeline import Timeline
from seed.weighted import Weighted

EventRow = dict[str, Any]
BLOCK_RUNS = 2_500  # part of what a seed means: another block size, other data
UPDATE_SHARE = 0.10
RETRY_SHARE = 0.03  # installs that retry a recent failure from the same session
VALIDATION_SHARE = 0.2
UPDATE_PROGRESS_SHARE = 0.5
PROGRESS_TYPES = frozenset({"lxc", "turnkey", "vm"})  # types that report before the end
APP_CHOICE = Weighted([(app, popularity(app)) for app in APPS])
UPDATED_APP_CHOICE = Weighted([(app, popularity(app)) for app in APPS if app.type == "lxc"])
UPDATE_OUTCOMES = Weighted(
    [
        (results.SUCCESS, 0.88),
        (results.FAILED, 0.08),
        (results.ABORTED, 0.02),
        (results.UNKNOWN, 0.01),
        (results.ABANDONED, 0.01),
    ]
)
# The fields of a current client's report that describe a result; progress reports
# send them empty.
EMPTY_RESULT = {"exit_code": 0, "error": "", "error_category": "", "install_duration": 0}
# Version and variant bits of a version 4 UUID (RFC 9562).
_UUID4_CLEAR = ~((0xF000 << 64) | (0xC000 << 48)) & ((1 << 128) - 1)
_UUID4_SET = (0x4000 << 64) | (0x8000 << 48)


@dataclass(frozen=True, slots=True)
class SeedChunk:
    """Runs (dicts with exactly the runs columns) and all their events (events rows,
    ``raw`` as the JSON text of the report)."""

    runs: list[RunRecord]
    events: list[EventRow]


@dataclass(frozen=True, slots=True)
class SeedPlan:
    """What to generate: ``runs`` runs starting in the ``days`` before ``now``.

    Runs come in blocks of BLOCK_RUNS, oldest first. Block ``b`` draws from its own
    ``random.Random`` seeded with (``seed``, ``b``) and the app traits from
    ``random.Random(seed)``, so blocks can be generated in any order or in parallel
    processes and still give the same data.
    """

    runs: int
    days: float
    seed: int
    now: datetime

    def __post_init__(self) -> None:
        if self.runs < 0 or self.days <= 0:
            raise ValueError("runs must be >= 0 and days > 0")
        if self.now.tzinfo is None:
            raise ValueError("now must be timezone-aware")

    @property
    def blocks(self) -> int:
        return -(-self.runs // BLOCK_RUNS)


def generate_chunks(runs: int, days: float, seed: int, *, now: datetime) -> Iterator[SeedChunk]:
    """Every block of the plan in order; memory holds one block whatever ``runs`` is."""
    plan = SeedPlan(runs, days, seed, now)
    for block in range(plan.blocks):
        yield generate_block(plan, block)


def generate_block(plan: SeedPlan, block: int) -> SeedChunk:
    """Runs ``block * BLOCK_RUNS`` up to the next block (or the end) and their events."""
    generator = _Generator(_shared(plan), random.Random(f"{plan.seed}:{block}"))
    chunk = SeedChunk([], [])
    for index in range(block * BLOCK_RUNS, min((block + 1) * BLOCK_RUNS, plan.runs)):
        run, events = generator.run(index)
        chunk.runs.append(run)
        chunk.events.extend(events)
    return chunk


@dataclass(frozen=True, slots=True)
class _Shared:
    """What every block of a plan shares: the time curve and the apps' traits."""

    timeline: Timeline
    now: float
    traits: dict[str, AppTraits]
    outcomes: dict[str, Weighted[str | None]]
    population: Population


@functools.lru_cache(maxsize=4)
def _shared(plan: SeedPlan) -> _Shared:
    rng = random.Random(plan.seed)
    now = plan.now.astimezone(UTC)
    traits = {app.slug: results.draw_traits(rng) for app in APPS}
    weights = [popularity(app) for app in APPS]
    mean_factor = sum(
        weight * traits[app.slug].failure_factor for app, weight in zip(APPS, weights, strict=True)
    ) / sum(weights)
    outcomes = {
        slug: results.outcome_choice(app_traits, 1.0 / mean_factor)
        for slug, app_traits in traits.items()
    }
    timeline = Timeline(now, plan.days, max(plan.runs, 1))
    return _Shared(timeline, now.timestamp(), traits, outcomes, Population(rng))


class _Report(NamedTuple):  # a tuple: built for every report, so cheap to build
    status: str
    body: dict[str, Any]
    offset: float  # seconds after the run's start


class _Generator:
    def __init__(self, shared: _Shared, rng: random.Random) -> None:
        self.rng = rng
        self.timeline = shared.timeline
        self.now = shared.now
        self.traits = shared.traits
        self.outcomes = shared.outcomes
        self.population = shared.population
        # Recent failures a user may retry from the recovery menu (same session).
        self.recent_failures: deque[tuple[str, App, Metadata]] = deque(maxlen=64)

    def new_id(self) -> str:
        """A random (version 4) UUID, as ``uuid.uuid4()`` spells it."""
        bits = "%032x" % (self.rng.getrandbits(128) & _UUID4_CLEAR | _UUID4_SET)
        return f"{bits[:8]}-{bits[8:12]}-{bits[12:16]}-{bits[16:20]}-{bits[20:]}"

    def run(self, index: int) -> tuple[RunRecord, list[EventRow]]:
        start = self.timeline.start_of(index, self.rng)
        if self.rng.random() < UPDATE_SHARE:
            return self.update_run(start)
        return self.install_run(start)

    # -- installs (POST /telemetry) ------------------------------------------------

    def install_run(self, start: float) -> tuple[RunRecord, list[EventRow]]:
        rng = self.rng
        position = self.timeline.position(start)
        execution_id = self.new_id()
        if self.recent_failures and rng.random() < RETRY_SHARE:
            session_id, app, metadata = self.recent_failures.popleft()
        else:
            session_id = execution_id
            app = APP_CHOICE.pick(rng)
            payload_v2 = rng.random() < 0.25 + 0.6 * position
            metadata = self.population.install(rng, app, position, payload_v2, self.version(app))
        traits = self.traits[app.slug]
        result = results.draw_result(
            rng, traits, self.outcomes[app.slug], metadata.payload_version is not None
        )
        if result.status == results.FAILED:
            self.recent_failures.append((session_id, app, metadata))
        ids = {"random_id": session_id, "execution_id": execution_id}
        full = ids | metadata.wire
        reports = self.install_progress(app, result, full, ids | metadata.minimal_ping())
        if result.status is not None:
            body = {**full, "status": result.status, **_install_result(result)}
            reports.append(_Report(result.status, body, self.terminal_offset(reports, result)))
        elif not reports:  # a tool that never finished still said it started
            reports.append(
                _Report("installing", {**full, "status": "installing", **EMPTY_RESULT}, 0)
            )
        return self.assemble(
            execution_id, "INSTALL", "telemetry", session_id, execution_id, metadata, result,
            start, reports,
        )  # fmt: skip

    def install_progress(
        self, app: App, result: Result, full: dict[str, Any], ping: dict[str, Any]
    ) -> list[_Report]:
        """installing (host), sometimes validation (host), configuring (the container's
        minimal ping) for containers; VMs only report installing; tools nothing."""
        if app.type not in PROGRESS_TYPES:
            return []
        rng = self.rng
        reports = [_Report("installing", {**full, "status": "installing", **EMPTY_RESULT}, 0.0)]
        if app.type == "vm":
            return reports
        if result.duration >= 10 and rng.random() < VALIDATION_SHARE:
            body = {**full, "status": "validation", **EMPTY_RESULT}
            reports.append(_Report("validation", body, rng.uniform(0.5, 2.5)))
        if not result.early:
            offset = result.duration * rng.uniform(0.3, 0.7)
            reports.append(_Report("configuring", {**ping, "status": "configuring"}, offset))
        return reports

    def terminal_offset(self, progress: list[_Report], result: Result) -> float:
        return result.duration + self.rng.uniform(0.001, 0.999) if progress else 0.0

    def version(self, app: App) -> str:
        major, minor = self.traits[app.slug].version
        return f"{major}.{minor}.{int(self.rng.random() * 10)}"

    # -- application updates (POST /update) ----------------------------------------

    def update_run(self, start: float) -> tuple[RunRecord, list[EventRow]]:
        rng = self.rng
        app = UPDATED_APP_CHOICE.pick(rng)
        random_id = self.new_id()
        metadata = update_metadata(rng, app, self.timeline.position(start), self.version(app))
        drawn = results.draw_result(rng, self.traits[app.slug], UPDATE_OUTCOMES, False)
        # The update API sends no category: the service derives it from the exit code.
        category = None if drawn.exit_code is None else drawn.category
        result = Result(
            drawn.status, drawn.exit_code, category, drawn.error,
            max(5, drawn.duration // 3), None, None, early=False,
        )  # fmt: skip
        full = {"random_id": random_id} | metadata.wire
        reports = []
        if result.status is None or rng.random() < UPDATE_PROGRESS_SHARE:
            reports.append(_Report("updating", {**full, "status": "updating"}, 0.0))
        if result.status is not None:
            body = {**full, "status": result.status, "duration": result.duration}
            if result.exit_code is not None:
                body["exit_code"] = result.exit_code
            if result.error is not None:
                body["error"] = result.error
            reports.append(_Report(result.status, body, self.terminal_offset(reports, result)))
        return self.assemble(
            f"update:{random_id}", "UPDATE", "update", random_id, None, metadata, result,
            start, reports,
        )  # fmt: skip

    # -- the run and its events ----------------------------------------------------

    def assemble(
        self,
        run_id: str,
        kind: str,
        source: str,
        session_id: str,
        execution_id: str | None,
        metadata: Metadata,
        result: Result,
        start: float,
        reports: list[_Report],
    ) -> tuple[RunRecord, list[EventRow]]:
        """The events that have happened by ``now`` (a run still going has no terminal
        yet), and the run they merge into."""
        prefix = f"{kind}|{run_id}|".encode()
        events: list[EventRow] = []
        for report in reports:
            moment = start + report.offset
            if moment > self.now:
                break
            events.append(_event_row(run_id, kind, source, prefix, report, moment))
        first, last = events[0], events[-1]
        finished = result.status is not None and len(events) == len(reports)
        status = last["status"]
        run: RunRecord = {
            "id": run_id,
            "kind": kind,
            "execution_id": execution_id,
            "session_id": session_id,
            "status": status,
            "status_normalised": status,
            "outcome": outcome_for(status, result.exit_code if finished else None).value,
            "exit_code": result.exit_code if finished else None,
            "exit_code_inferred": False,
            "error": result.error if finished and status != results.SUCCESS else None,
            "error_category": result.category if finished else None,
            "failed_command": result.failed_command if finished else None,
            "failed_line": result.failed_line if finished else None,
            "duration_seconds": result.duration if finished else None,
            "started_at": first["event_time"],
            "last_seen_at": last["event_time"],
            "finished_at": last["event_time"] if finished else None,
            "event_count": len(events),
            "last_order_key": _order_key(last["event_time"], status, last["dedup_key"]),
            **metadata.columns,
        }
        return run, events


def _install_result(result: Result) -> dict[str, Any]:
    """The result fields of a current client's terminal report."""
    fields: dict[str, Any] = {
        "exit_code": result.exit_code,
        "error": result.error or "",
        "error_category": result.category or "",
        "install_duration": result.duration,
    }
    if result.exit_code is None:
        del fields["exit_code"]
    if result.failed_command is not None:
        fields["failed_command"] = result.failed_command
        fields["failed_line"] = result.failed_line
    return fields


def _event_row(
    run_id: str, kind: str, source: str, prefix: bytes, report: _Report, moment: float
) -> EventRow:
    """The events row live ingest would store for this report (ingest/report.py)."""
    body = report.body
    # Key-sorted, as the dedup hash needs it: one serialisation serves both.
    sorted_json = orjson.dumps(body, option=orjson.OPT_SORT_KEYS)
    event_time = datetime.fromtimestamp(moment, UTC)
    return {
        "run_id": run_id,
        "dedup_key": hashlib.sha256(prefix + sorted_json).hexdigest()[:32],
        "source": source,
        "kind": kind,
        "status_raw": report.status,
        "status": report.status,
        "received_at": event_time,
        "client_time": None,
        "event_time": event_time,
        "payload_version": body.get("payload_version"),
        "raw": sorted_json.decode(),
    }


def _order_key(event_time: datetime, status: str, dedup_key: str) -> str:
    """ingest.report.order_key, without strftime (the generator's hottest formatting)."""
    text = event_time.isoformat()
    moment = text[:26] if event_time.microsecond else f"{text[:19]}.000000"
    return f"{moment}|{STATUS_PRIORITY[status]}|{dedup_key}"
