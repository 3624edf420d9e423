"""Seeded reference dataset for the analytics tests: runs, their wire events, their truth.

``generate_dataset(seed, runs, days, now)`` draws runs from ``random.Random(seed)``; each
``GeneratedRun`` holds the attributes its run must end up with after ingest
(``ExpectedRun``) and the wire events that produce them (``(source, raw_dict)`` pairs,
``source`` being ``"telemetry"`` for installs and ``"update"`` for update reports). The
analytics reference calculator (tests/utils/reference_calc.py) computes every number
from the ``ExpectedRun`` list alone; ``load_dataset`` pushes the wire events through the
real ingest path (``build_report`` + ``IngestWriter``) into a database.

What the dataset contains, so that every number the API returns is exercised:

- long-tail popularity over 62 apps (Zipf-like), installs (~90 %) and updates (~10 %);
- every dimension varied, and every dimension except app/kind absent from all events
  of some runs ("missing"); lower-cased fields sometimes sent in mixed case, sizes
  sometimes as ``"8G"``/``"2048"`` text (the stored value is the normalised one);
- outcomes: success (with and without ``install_duration``, some spelled ``done`` /
  ``sucess``, some without exit code), failed (a spread of exit codes, codes unknown to
  the reference table, no exit code at all, an exit code only inferable from the previous
  client's text, client categories that differ from the table's), failed with
  129/130/143 (ABORTED), ``aborted``, ``unknown``, and progress-only runs: some whose
  last event is 1 min - 2 h before ``now`` (IN_PROGRESS at query time) and some 4 h+
  before it (UNFINISHED). No progress-only run ends between 2 h and 4 h before ``now``,
  so the 3 h threshold is never close;
- error texts with long (> 300 characters) and non-ASCII first lines, failed runs
  without error text, and a few exact retries of a terminal event (stored once);
- start times spread over the ``days`` before ``now`` plus clusters around every DST
  change of Europe/Berlin and America/New_York inside that range (±30 h for day
  buckets, ±2 h for hour buckets).

Events of a run: ``installing``/``updating`` (full metadata), optionally ``configuring``
(full or container-minimal metadata), then one terminal (same metadata plus result
fields); timestamps strictly increase within a run and none is later than ``now``.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, fields
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from ingest.exit_codes import ABORT_EXIT_CODES, category_for, lookup_exit_code
from ingest.report import build_report
from storage.engine import open_database
from storage.migrate import upgrade_to_head
from storage.writer.group_commit import IngestWriter

Raw = dict[str, Any]
WireEvent = tuple[str, Raw]

DST_ZONES = ("Europe/Berlin", "America/New_York")

APPS = (
    "homeassistant", "docker", "jellyfin", "pihole", "adguard", "vaultwarden", "plex",
    "frigate", "nginxproxymanager", "zigbee2mqtt", "mqtt", "node-red", "grafana", "influxdb",
    "paperless-ngx", "immich", "uptimekuma", "portainer", "wireguard", "tailscale",
    "cloudflared", "debian", "ubuntu", "alpine", "homebridge", "esphome", "jellyseerr",
    "sonarr", "radarr", "prowlarr", "lidarr", "bazarr", "qbittorrent", "sabnzbd",
    "transmission", "syncthing", "gitea", "forgejo", "n8n", "mariadb", "postgresql", "redis",
    "mongodb", "mealie", "actualbudget", "audiobookshelf", "calibre-web", "navidrome", "emby",
    "tdarr", "unifi", "omada", "keycloak", "authentik", "wikijs", "bookstack", "dashy",
    "homarr", "heimdall", "traccar", "nextcloudpi", "openwebui",
)  # fmt: skip
APP_WEIGHTS = tuple(1.0 / (rank + 1) ** 1.1 for rank in range(len(APPS)))

# (value, weight); the value is sent as is, the stored value is its lower-case form
# for the fields the service lower-cases.
TYPES = (("lxc", 60), ("vm", 20), ("addon", 7), ("pve", 5), ("tool", 4), ("turnkey", 2))
OS_CHOICES = (
    (("debian", "12"), 40), (("debian", "13"), 20), (("debian", "11"), 5),
    (("ubuntu", "24.04"), 12), (("ubuntu", "22.04"), 6), (("alpine", "3.22"), 8),
    (("alpine", "3.21"), 4), (("fedora", "42"), 2),
)  # fmt: skip
PVE_VERSIONS = (
    ("8.4.1", 30), ("9.0.3", 20), ("9.1.1", 12), ("8.3.0", 10), ("8.2.4", 6), ("7.4-19", 2),
    ("incus-6.0.4", 4), ("incus-6.14", 2),
)  # fmt: skip
METHODS = (
    ("default", 50), ("advanced", 20), ("appdefaults", 8), ("generated", 6),
    ("mydefaults-global", 5), ("mydefaults-app", 3),
)  # fmt: skip
CPU_VENDORS = (("intel", 55), ("amd", 40), ("arm", 3), ("unknown", 2))
GPU_VENDORS = (("intel", 40), ("nvidia", 15), ("amd", 10), ("none", 30), ("unknown", 5))
GPU_PASSTHROUGH = (
    ("none", 40), ("igpu", 15), ("dgpu", 6), ("vgpu", 1), ("unknown", 8), ("no", 20), ("yes", 10)
)  # fmt: skip
ARCHS = (("amd64", 92), ("arm64", 8))
REPOS = (
    (("ProxmoxVE", "community-scripts/ProxmoxVE"), 80),
    (("ProxmoxVED", "community-scripts/ProxmoxVED"), 12),
    (("external", "tteck/Proxmox"), 4),
    (("external", "someone/proxmox-fork"), 4),
)
CT_TYPES = ((1, 60), (0, 15), (2, 25))
CORES = ((1, 30), (2, 40), (4, 20), (6, 3), (8, 5), (16, 2))
RAM_MB = (
    (512, 15), (1024, 25), (1536, 5), (2048, 30), (3072, 3), (4096, 15), (8192, 5), (16384, 2)
)  # fmt: skip
DISK_GB = ((2, 10), (4, 20), (8, 30), (10, 5), (16, 10), (20, 10), (32, 10), (64, 5))
CPU_MODELS = ("AMD EPYC 7302", "Intel(R) Core(TM) i5-8500T", "AMD Ryzen 7 5800X", "N100")

# Exit codes of failed runs (weights); 42 and 99 are not in the reference table.
FAILURE_CODES = (
    (1, 20), (2, 3), (100, 12), (127, 6), (137, 4), (139, 2), (206, 3), (209, 4), (214, 5),
    (222, 3), (243, 4), (255, 5), (6, 3), (7, 2), (28, 3), (35, 1), (150, 3), (160, 2),
    (170, 1), (231, 1), (42, 1), (99, 1),
)  # fmt: skip
# Client categories that differ from the table's (server peers' categories included).
CLIENT_CATEGORY_OVERRIDES = ("apt", "build", "preflight", "network", "unknown", "command_not_found")
# Exact texts of the previous client from which the service infers the exit code.
INFERABLE_TEXTS = (("Command not found", 127), ("Custom: Not enough storage space", 214))
COMMANDS = (
    "apt-get install -y nodejs",
    "npm ci --omit=dev",
    "pct start 105",
    "systemctl enable --now app.service",
    "pip install -r requirements.txt",
    "make -j4",
)
LONG_FIRST_LINE = "Paketverwaltung fehlgeschlagen – dpkg meldet Abhängigkeitsprobleme; " * 6

DIMENSION_FIELDS = (
    "type", "ct_type", "disk_gb", "cores", "ram_mb", "os_type", "os_version", "pve_version",
    "method", "cpu_vendor", "gpu_vendor", "gpu_passthrough", "arch", "platform", "repo_source",
    "repo_slug",
)  # fmt: skip
# Fields a container's minimal "configuring" ping carries (docs/semantics.md, "Current client").
MINIMAL_PING_FIELDS = ("type", "platform", "repo_source", "repo_slug")
# Attribute -> raw key that feeds it.
RAW_KEY = {
    "type": "type", "ct_type": "ct_type", "disk_gb": "disk_size", "cores": "core_count",
    "ram_mb": "ram_size", "os_type": "os_type", "os_version": "os_version",
    "pve_version": "pve_version", "method": "method", "cpu_vendor": "cpu_vendor",
    "gpu_vendor": "gpu_vendor", "gpu_passthrough": "gpu_passthrough", "arch": "arch",
    "platform": "platform", "repo_source": "repo_source", "repo_slug": "repo_slug",
}  # fmt: skip
MISSING_PROBABILITY = 0.04
IN_PROGRESS_MAX_AGE = timedelta(hours=2)
UNFINISHED_MIN_AGE = timedelta(hours=4)


@dataclass(frozen=True, slots=True)
class ExpectedRun:
    """What one run must look like after ingest (the ``runs`` row), in plain values.

    ``outcome`` is the stored outcome: SUCCESS, FAILED, ABORTED, UNKNOWN, or IN_PROGRESS
    for a run without a terminal status (the reader derives UNFINISHED from
    ``last_seen_at``). ``run_id`` is the ``runs.id`` column; the others have their
    column's name.
    """

    run_id: str
    kind: str
    app: str
    type: str | None
    ct_type: int | None
    disk_gb: int | None
    cores: int | None
    ram_mb: int | None
    os_type: str | None
    os_version: str | None
    pve_version: str | None
    method: str | None
    cpu_vendor: str | None
    gpu_vendor: str | None
    gpu_passthrough: str | None
    arch: str | None
    platform: str | None
    repo_source: str | None
    repo_slug: str | None
    exit_code: int | None
    exit_code_inferred: bool
    error_category: str | None
    error: str | None
    duration_seconds: int | None
    outcome: str
    started_at: datetime
    last_seen_at: datetime
    event_count: int
    app_version: str | None


EXPECTED_FIELDS = tuple(field.name for field in fields(ExpectedRun))


def expected_row(run: ExpectedRun) -> dict[str, Any]:
    """The run as ``runs`` columns (``run_id`` is ``id``), for comparing with a row."""
    row = {name: getattr(run, name) for name in EXPECTED_FIELDS}
    row["id"] = row.pop("run_id")
    return row


@dataclass(frozen=True, slots=True)
class GeneratedRun:
    expected: ExpectedRun
    events: tuple[WireEvent, ...]  # in event-time order; an exact retry appears twice
    event_times: tuple[datetime, ...]  # event time of each entry of ``events``


@dataclass(frozen=True, slots=True)
class Dataset:
    seed: int
    now: datetime
    days: int
    runs: tuple[GeneratedRun, ...]

    @property
    def expected(self) -> list[ExpectedRun]:
        return [run.expected for run in self.runs]

    def wire_events(self) -> list[WireEvent]:
        """Every event of every run, in event-time order (ties: run order, then position)."""
        ordered = sorted(
            (time, run_index, position, event)
            for run_index, run in enumerate(self.runs)
            for position, (time, event) in enumerate(zip(run.event_times, run.events, strict=True))
        )
        return [event for *_, event in ordered]


def dst_transitions(zone: str, start: datetime, end: datetime) -> list[datetime]:
    """UTC instants in [start, end) at which ``zone``'s UTC offset changes (hour grid)."""
    tz = ZoneInfo(zone)
    moment = start.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    found = []
    previous = moment.astimezone(tz).utcoffset()
    while moment < end:
        moment += timedelta(hours=1)
        offset = moment.astimezone(tz).utcoffset()
        if offset != previous and start <= moment < end:
            found.append(moment)
        previous = offset
    return found


def generate_dataset(seed: int, runs: int = 5000, days: int = 90, *, now: datetime) -> Dataset:
    """``runs`` runs starting in the ``days`` before ``now``; the same seed, the same data."""
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    now = now.astimezone(UTC)
    rng = random.Random(seed)
    range_start = now - timedelta(days=days)
    transitions = sorted(
        moment for zone in DST_ZONES for moment in dst_transitions(zone, range_start, now)
    )
    builder = _RunBuilder(rng, now, range_start, transitions)
    return Dataset(seed, now, days, tuple(builder.build() for _ in range(runs)))


class _RunBuilder:
    def __init__(
        self, rng: random.Random, now: datetime, range_start: datetime, transitions: list[datetime]
    ) -> None:
        self.rng = rng
        self.now = now
        self.range_start = range_start
        self.transitions = transitions
        self.used_ids: set[str] = set()
        self.sessions: list[str] = []

    # -- random helpers -------------------------------------------------------------

    def pick(self, weighted: Sequence[tuple[Any, int]]) -> Any:
        values, weights = zip(*weighted, strict=True)
        return self.rng.choices(values, weights)[0]

    def chance(self, probability: float) -> bool:
        return self.rng.random() < probability

    def new_id(self) -> str:
        while True:
            value = str(uuid.UUID(int=self.rng.getrandbits(128), version=4))
            if value not in self.used_ids:
                self.used_ids.add(value)
                return value

    # -- one run --------------------------------------------------------------------

    def build(self) -> GeneratedRun:
        kind = "UPDATE" if self.chance(0.10) else "INSTALL"
        attrs = self.update_attributes() if kind == "UPDATE" else self.install_attributes()
        app = self.rng.choices(APPS, APP_WEIGHTS)[0]
        plan = self.plan_result(kind)
        identity = self.identity(kind)
        times = self.event_times(plan)
        events = self.wire_events(kind, app, attrs, plan, identity, times)
        retried = plan.terminal and self.chance(0.03)
        event_times = list(times)
        if retried:  # an exact client retry of the terminal report: stored once
            events.append(events[-1])
            event_times.append(times[-1])
        expected = ExpectedRun(
            run_id=str(identity["run_id"]),
            kind=kind,
            app=app,
            **{name: _stored(name, attrs.get(name)) for name in DIMENSION_FIELDS},
            exit_code=plan.exit_code,
            exit_code_inferred=plan.exit_code_inferred,
            error_category=plan.error_category,
            error=plan.error,
            duration_seconds=plan.duration,
            outcome=plan.outcome if plan.terminal else "IN_PROGRESS",
            started_at=times[0],
            last_seen_at=times[-1],
            event_count=len(times),
            app_version=attrs.get("app_version"),
        )
        return GeneratedRun(expected, tuple(events), tuple(event_times))

    def install_attributes(self) -> dict[str, Any]:
        os_type, os_version = self.pick(OS_CHOICES)
        repo_source, repo_slug = self.pick(REPOS)
        pve_version = self.pick(PVE_VERSIONS)
        attrs: dict[str, Any] = {
            "type": self.pick(TYPES),
            "ct_type": self.pick(CT_TYPES),
            "disk_gb": self.pick(DISK_GB),
            "cores": self.pick(CORES),
            "ram_mb": self.pick(RAM_MB),
            "os_type": os_type,
            "os_version": os_version,
            "pve_version": pve_version,
            "method": self.pick(METHODS),
            "cpu_vendor": self.pick(CPU_VENDORS),
            "gpu_vendor": self.pick(GPU_VENDORS),
            "gpu_passthrough": self.pick(GPU_PASSTHROUGH),
            "arch": self.pick(ARCHS),
            "platform": "incus" if pve_version.startswith("incus-") else "pve",
            "repo_source": repo_source,
            "repo_slug": repo_slug,
        }
        for name in DIMENSION_FIELDS:
            if self.chance(MISSING_PROBABILITY):
                attrs[name] = None
        return attrs

    def update_attributes(self) -> dict[str, Any]:
        """Update reports carry little: type, sometimes the OS and repo, the version."""
        attrs: dict[str, Any] = dict.fromkeys(DIMENSION_FIELDS)
        attrs["type"] = self.pick((("lxc", 80), ("vm", 15))) if self.chance(0.9) else None
        if self.chance(0.5):
            attrs["os_type"], attrs["os_version"] = self.pick(OS_CHOICES)
        if self.chance(0.5):
            attrs["repo_source"], attrs["repo_slug"] = self.pick(REPOS)
        if self.chance(0.3):
            attrs["arch"] = self.pick(ARCHS)
        attrs["app_version"] = (
            f"{self.rng.randint(1, 30)}.{self.rng.randint(0, 12)}.{self.rng.randint(0, 9)}"
            if self.chance(0.9)
            else None
        )
        return attrs

    def identity(self, kind: str) -> dict[str, str | None]:
        if kind == "UPDATE":
            random_id = self.new_id()
            return {"random_id": random_id, "execution_id": None, "run_id": f"update:{random_id}"}
        if self.sessions and self.chance(0.03):
            # A retry from the recovery menu: same session, new execution.
            session = self.rng.choice(self.sessions)
            execution = self.new_id()
            return {"random_id": session, "execution_id": execution, "run_id": execution}
        session = self.new_id()
        self.sessions.append(session)
        if self.chance(0.1):  # older clients send no execution_id
            return {"random_id": session, "execution_id": None, "run_id": session}
        return {"random_id": session, "execution_id": session, "run_id": session}

    def plan_result(self, kind: str) -> _Plan:
        roll = self.rng.random()
        if roll < 0.02:
            return _Plan.progress_only("IN_PROGRESS")
        if roll < 0.08:
            return _Plan.progress_only("UNFINISHED")
        if roll < 0.70:
            return self.success_plan(kind)
        if roll < 0.90:
            return self.failed_plan(kind)
        if roll < 0.95 and kind == "INSTALL":
            code = self.rng.choice((130, 130, 143, None))
            plan = _Plan("aborted", "ABORTED", exit_code=code)
            plan.error_category = category_for(code)
            plan.error = self.error_text(code, "Aborted by user") if self.chance(0.5) else None
            return plan
        plan = _Plan("unknown", "UNKNOWN")
        if self.chance(0.4):
            plan.sent_category = "unknown"
            plan.error_category = "unknown"
        return plan

    def success_plan(self, kind: str) -> _Plan:
        status = self.pick((("success", 90), ("done", 6), ("sucess", 4)))
        plan = _Plan(status, "SUCCESS", exit_code=0 if self.chance(0.92) else None)
        if kind == "UPDATE" and self.chance(0.3):
            plan.status = None  # the update API: an exit code alone is a finished update
            plan.exit_code = 0
        if self.chance(0.8):
            plan.duration = self.rng.randint(20, 1800)
        return plan

    def failed_plan(self, kind: str) -> _Plan:
        roll = self.rng.random()
        if roll < 0.10:
            code: int | None = self.rng.choice(sorted(ABORT_EXIT_CODES))
        elif roll < 0.18:
            code = None
        else:
            code = self.pick(FAILURE_CODES)
        plan = _Plan("failed", "ABORTED" if code in ABORT_EXIT_CODES else "FAILED", exit_code=code)
        if kind == "UPDATE" and code is not None and self.chance(0.3):
            plan.status = None
        if code is None and self.chance(0.3):
            text, inferred = self.rng.choice(INFERABLE_TEXTS)
            plan.error = text
            plan.exit_code = inferred
            plan.exit_code_inferred = True
            plan.error_category = category_for(inferred)
            return plan
        if self.chance(0.5):
            plan.sent_category = (
                self.rng.choice(CLIENT_CATEGORY_OVERRIDES)
                if self.chance(0.3)
                else category_for(code) or "unknown"
            )
            plan.error_category = plan.sent_category
            if self.chance(0.2):
                plan.sent_category = plan.sent_category.upper()
        else:
            plan.error_category = category_for(code)
        if self.chance(0.85):
            plan.error = self.error_text(code, None)
        if self.chance(0.3):
            plan.duration = self.rng.randint(5, 900)
        return plan

    def error_text(self, code: int | None, explanation: str | None) -> str:
        if explanation is None:
            if self.chance(0.05):
                explanation = LONG_FIRST_LINE
            elif code is None:
                explanation = "installation failed"
            else:
                explanation = lookup_exit_code(code).descriptions[0]
        line = self.rng.randint(10, 900)
        command = self.rng.choice(COMMANDS)
        first = f"exit_code={code if code is not None else '?'} | {explanation} | "
        first += f"at line {line}: {command}"
        logs = "\n".join(f"log line {n} of step {line}" for n in range(self.rng.randint(0, 3)))
        return f"{first}\n---\n{logs}" if logs else first

    def event_times(self, plan: _Plan) -> list[datetime]:
        gaps = [self.rng.randint(1, 90)]  # installing -> validation/configuring
        if self.chance(0.6):
            gaps.append(self.rng.randint(5, 600))
        if plan.terminal:
            gaps.append(max(1, (plan.duration or self.rng.randint(30, 900)) - sum(gaps)))
        elif self.chance(0.2):
            gaps = []  # a lone installing report
        span = timedelta(seconds=sum(gaps))
        whole_seconds = self.chance(0.4)
        if plan.outcome == "IN_PROGRESS":
            last = self.now - timedelta(
                seconds=self.rng.uniform(60, IN_PROGRESS_MAX_AGE.total_seconds())
            )
            start = last - span
        else:
            latest_start = self.now - span - timedelta(seconds=60)
            if plan.outcome == "UNFINISHED":
                latest_start -= UNFINISHED_MIN_AGE
            start = self.start_time(latest_start)
        if whole_seconds:
            start = start.replace(microsecond=0)
        times = [start]
        for gap in gaps:
            times.append(times[-1] + timedelta(seconds=gap, microseconds=0 if whole_seconds else 1))
        return times

    def start_time(self, latest: datetime) -> datetime:
        roll = self.rng.random()
        if self.transitions and roll < 0.06:
            around = self.rng.choice(self.transitions)
            width = 2 * 3600 if roll < 0.02 else 30 * 3600
            start = around + timedelta(seconds=self.rng.uniform(-width, width))
            if self.range_start <= start <= latest:
                return start
        span = max(0.0, (latest - self.range_start).total_seconds())
        return self.range_start + timedelta(seconds=self.rng.uniform(0, span))

    def wire_events(
        self,
        kind: str,
        app: str,
        attrs: dict[str, Any],
        plan: _Plan,
        identity: dict[str, str | None],
        times: list[datetime],
    ) -> list[WireEvent]:
        source = "update" if kind == "UPDATE" else "telemetry"
        ids = {key: identity[key] for key in ("random_id", "execution_id") if identity[key]}
        metadata = {**ids, **self.raw_metadata(app, attrs, kind)}
        whole_seconds = times[0].microsecond == 0 and all(t.microsecond == 0 for t in times)
        zulu = self.chance(0.5)
        first_status = "updating" if kind == "UPDATE" else "installing"
        later_status = "updating" if kind == "UPDATE" else "configuring"
        progress = [first_status] + [later_status] * (len(times) - 1 - int(plan.terminal))
        if kind == "INSTALL" and len(progress) == 3:
            progress[1] = "validation"
        events: list[WireEvent] = []
        for index, status in enumerate(progress):
            body = dict(metadata)
            if status == "configuring" and kind == "INSTALL" and self.chance(0.5):
                body = {**ids, "nsapp": metadata["nsapp"]}
                body |= {
                    RAW_KEY[name]: metadata[RAW_KEY[name]]
                    for name in MINIMAL_PING_FIELDS
                    if RAW_KEY[name] in metadata
                }
            body["status"] = status
            body["timestamp"] = _timestamp(times[index], whole_seconds, zulu)
            events.append((source, body))
        if plan.terminal:
            body = dict(metadata)
            if plan.status is not None:
                body["status"] = plan.status
            if plan.exit_code is not None and not plan.exit_code_inferred:
                body["exit_code"] = plan.exit_code
            if plan.error is not None:
                body["error"] = plan.error
            if plan.sent_category is not None:
                body["error_category"] = plan.sent_category
            if plan.duration is not None:
                body["install_duration" if kind == "INSTALL" else "duration"] = plan.duration
            body["timestamp"] = _timestamp(times[-1], whole_seconds, zulu)
            events.append((source, body))
        return events

    def raw_metadata(self, app: str, attrs: dict[str, Any], kind: str) -> Raw:
        raw: Raw = {"nsapp" if kind == "INSTALL" or self.chance(0.5) else "app": app}
        for name in DIMENSION_FIELDS:
            value = attrs.get(name)
            if value is None:
                continue
            raw[RAW_KEY[name]] = self.wire_value(name, value)
        if kind == "UPDATE":
            raw["ctid"] = self.rng.randint(100, 9999)
            if attrs.get("app_version") is not None:
                raw["version"] = attrs["app_version"]
        else:
            raw["cpu_model"] = self.rng.choice(CPU_MODELS)
            raw["has_arm"] = attrs.get("arch") == "arm64"
        return raw

    def wire_value(self, name: str, value: Any) -> Any:
        """How a client might send ``value``; stores as ``_stored(name, value)``."""
        if name == "disk_gb" and self.chance(0.15):
            return f"{value}G"
        if name == "ram_mb" and self.chance(0.15):
            return str(value)
        if name in ("type", "os_type", "cpu_vendor", "method") and self.chance(0.1):
            return value.upper()
        return value


@dataclass(slots=True)
class _Plan:
    status: str | None  # raw terminal status sent; None: progress only, or exit code only
    outcome: str
    exit_code: int | None = None
    exit_code_inferred: bool = False
    error_category: str | None = None
    sent_category: str | None = None
    error: str | None = None
    duration: int | None = None
    terminal: bool = True

    @classmethod
    def progress_only(cls, effective: str) -> _Plan:
        # Stored outcome IN_PROGRESS; ``outcome`` keeps which side of the threshold the
        # generator aims for until ExpectedRun is built.
        return cls(None, effective, terminal=False)


_LOWER_CASED = frozenset({"type", "os_type", "method", "cpu_vendor", "gpu_vendor",
                          "gpu_passthrough", "arch", "platform"})  # fmt: skip


def _stored(name: str, value: Any) -> Any:
    if value is None:
        return None
    return value.lower() if name in _LOWER_CASED else value


def _timestamp(moment: datetime, whole_seconds: bool, zulu: bool) -> str:
    text = moment.astimezone(UTC).isoformat(timespec="seconds" if whole_seconds else "microseconds")
    return text.replace("+00:00", "Z") if zulu else text


async def load_dataset(
    database_url: str,
    dataset: Dataset,
    *,
    chunk_size: int = 2000,
) -> None:
    """Migrate the database and ingest every wire event through the real writer
    (events, runs and rollups in one transaction per batch, as live ingest does)."""
    received_at = datetime.now(UTC)
    reports = []
    for source, raw in dataset.wire_events():
        report = build_report(source, raw, received_at=received_at)
        if report.client_time != report.event_time:
            raise ValueError(f"event in the future, it would be clamped: {raw}")
        reports.append(report)
    database = open_database(database_url)
    try:
        await upgrade_to_head(database.writer)
        writer = IngestWriter(database, queue_size=200_000, batch_size=500)
        writer.start()
        try:
            for first in range(0, len(reports), chunk_size):
                await writer.submit_many(reports[first : first + chunk_size])
        finally:
            await writer.close()
    finally:
        await database.dispose()
