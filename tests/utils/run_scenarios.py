"""Seeded generator of realistic event sequences for one run (arrival-order tests).

A scenario is the set of ``POST /telemetry`` bodies one execution produces, each with
a ``timestamp``, shaped like docs/semantics.md, "Current client": a host ``installing``
report with full metadata, host ``validation``/``configuring`` reports, minimal container pings, and
zero to three terminal reports. The generator deliberately produces the cases the
merge must get right whatever the arrival order:

- ties in event time between different statuses (and the same instant written as
  ISO 8601 with different offsets or as epoch seconds);
- progress reports after a terminal one (late container pings);
- an ``unknown`` terminal before or after a real one;
- two different real terminals (a "force" correction), sometimes at the same instant;
- minimal pings without metadata, and host reports that blank a known value;
- different non-empty metadata in later reports ("later wins");
- error traces with personal data (scrubbed on the way in), exit code 130 (aborted),
  the previous client's ``done`` and ``sucess`` spellings, and an exit code only
  given as the previous client's explanation text (inferred).

Bodies within one scenario are distinct; retries (identical copies) are the caller's
business.
"""

from __future__ import annotations

import json
import random
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone

Body = dict[str, object]

PROGRESS = ("validation", "configuring", "configuring")
REAL_TERMINALS = ("success", "failed", "aborted")

# (terminal labels in event-time order) -> weight; "real" is drawn from REAL_TERMINALS.
TERMINAL_PATTERNS: tuple[tuple[tuple[str, ...], int], ...] = (
    ((), 2),  # still running or abandoned
    (("real",), 5),
    (("unknown",), 1),
    (("unknown", "real"), 2),
    (("real", "unknown"), 2),
    (("real", "real"), 3),  # force correction
    (("real", "unknown", "real"), 1),
)

APPS = ("homeassistant", "docker", "jellyfin", "pihole", "nextcloudpi", "vaultwarden")
OS_CHOICES = (("debian", "12"), ("debian", "13"), ("ubuntu", "24.04"), ("alpine", "3.22"))
METHODS = ("default", "advanced", "appdefaults", "mydefaults-global")
CPU_MODELS = ("AMD EPYC 7302", "Intel(R) Core(TM) i5-8500T", "AMD Ryzen 7 5800X")

# The previous client's explanation text for 127 (it sends no exit code).
COMMAND_NOT_FOUND_TEXT = "Command not found"

# Fields of a host report that may change between reports of one run.
MUTABLE_FIELDS = ("os_version", "core_count", "ram_size", "disk_size", "method", "cpu_model")
# Fields a host report sometimes sends empty (an empty value never replaces a known one).
BLANKABLE_FIELDS = ("os_type", "pve_version", "cpu_vendor", "gpu_vendor", "arch", "core_count")

MINIMAL_PING_KEYS = (
    "random_id",
    "execution_id",
    "type",
    "nsapp",
    "status",
    "platform",
    "repo_source",
    "repo_slug",
)


@dataclass(frozen=True, slots=True)
class Scenario:
    run_id: str
    bodies: tuple[Body, ...]


def seeded_uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def format_timestamp(rng: random.Random, moment: datetime) -> object:
    """The same instant in one of the spellings ``timestamp`` accepts."""
    style = rng.randrange(5)
    if style == 0:
        return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    if style == 1:
        return moment.astimezone(timezone(timedelta(hours=2))).isoformat()
    if style == 2:
        return int(moment.timestamp())
    if style == 3:
        return str(int(moment.timestamp()))
    return moment.astimezone(timezone(timedelta(hours=-5))).isoformat()


def _host_profile(rng: random.Random, app: str, kind: str) -> Body:
    os_type, os_version = rng.choice(OS_CHOICES)
    profile: Body = {
        "type": kind,
        "nsapp": app,
        "ct_type": 2 if kind == "vm" else rng.choice((0, 1)),
        "disk_size": rng.choice((4, 8, 16, "32G")),
        "core_count": rng.choice((1, 2, 4)),
        "ram_size": rng.choice((512, 2048, 4096)),
        "os_type": os_type,
        "os_version": os_version,
        "pve_version": rng.choice(("8.4.1", "9.0.3", "incus-6.0")),
        "method": rng.choice(METHODS),
        "cpu_vendor": rng.choice(("amd", "intel")),
        "cpu_model": rng.choice(CPU_MODELS),
        "gpu_vendor": rng.choice(("unknown", "intel", "nvidia")),
        "gpu_model": "",
        "gpu_passthrough": rng.choice(("unknown", "none", "igpu")),
        "ram_speed": "",
        "arch": "amd64",
        "platform": "pve",
        "has_arm": False,
        "repo_source": "ProxmoxVE",
        "repo_slug": "community-scripts/ProxmoxVE",
    }
    if rng.random() < 0.5:
        profile.update(payload_version=2, kernel_version="6.8.12-4-pve", app_version="")
    return profile


def _mutate(rng: random.Random, profile: Body) -> Body:
    """A later host report: sometimes different values, sometimes blanks."""
    body = dict(profile)
    if rng.random() < 0.35:
        name = rng.choice(MUTABLE_FIELDS)
        body[name] = {
            "os_version": rng.choice(("12", "13", "24.04")),
            "core_count": rng.choice((1, 2, 4, 8)),
            "ram_size": rng.choice((1024, 2048, 8192)),
            "disk_size": rng.choice((8, 20, "12G")),
            "method": rng.choice(METHODS),
            "cpu_model": rng.choice(CPU_MODELS),
        }[name]
    if rng.random() < 0.25:
        name = rng.choice(BLANKABLE_FIELDS)
        if rng.random() < 0.5:
            body[name] = ""
        else:
            body.pop(name, None)
    return body


def _terminal_fields(rng: random.Random, status: str, app: str) -> Body:
    line = rng.randrange(10, 900)
    trace = (
        f"at line {line}: apt-get install -y {app}\n---\n"
        "E: Failed to fetch http://mirror.home.lan/debian/pool/main/x.deb "
        "from 192.168.1.20, log in /home/alice/install.log"
    )
    duration = rng.randrange(5, 1800)
    if status in ("success", "done", "sucess"):
        return {"exit_code": 0, "error": "", "error_category": "", "install_duration": duration}
    if status == "unknown":
        return {"exit_code": rng.choice(("", 0)), "error": "", "install_duration": duration}
    if status == "aborted":
        return {
            "exit_code": 130,
            "error": f"exit_code=130 | Terminated by Ctrl+C | {trace}",
            "error_category": "user_aborted",
            "install_duration": duration,
        }
    # failed
    variant = rng.randrange(4)
    if variant == 0:  # an abort reported as a failure
        code: object = rng.choice((129, 130, 143))
    elif variant == 1:  # previous-client style: only the explanation text
        return {"error": COMMAND_NOT_FOUND_TEXT, "install_duration": duration}
    else:
        code = rng.choice((1, 100, 127, 28, 214))
    fields: Body = {
        "exit_code": code,
        "error": f"exit_code={code} | failure | {trace}",
        "error_category": rng.choice(("", "dependency")),
        "install_duration": duration,
    }
    if rng.random() < 0.5:
        fields.update(failed_command=f"apt-get install -y {app}", failed_line=line)
    return fields


def _plan(rng: random.Random) -> list[str]:
    """Status labels in event-time order: installing first, 2–9 reports in all."""
    patterns = [pattern for pattern, _ in TERMINAL_PATTERNS]
    weights = [weight for _, weight in TERMINAL_PATTERNS]
    terminals = list(rng.choices(patterns, weights)[0])
    total = rng.randint(max(2, len(terminals) + 1), 9)
    # Terminals keep their relative order but go anywhere after the first report, so
    # some progress pings land after a terminal.
    slots = set(rng.sample(range(1, total), len(terminals)))
    pending = iter(terminals)
    return [
        "installing" if index == 0 else next(pending) if index in slots else rng.choice(PROGRESS)
        for index in range(total)
    ]


def generate_run(rng: random.Random, start: datetime) -> Scenario:
    """One run's reports, event times from ``start`` on (ties included)."""
    session = seeded_uuid(rng)
    execution = session if rng.random() < 0.6 else seeded_uuid(rng)
    app = rng.choice(APPS)
    profile = _host_profile(rng, app, rng.choice(("lxc", "lxc", "vm")))
    identity: Body = {"random_id": session, "execution_id": execution}
    real_pool = list(REAL_TERMINALS)
    moment = start
    bodies: list[Body] = []
    seen: set[str] = set()
    for index, label in enumerate(_plan(rng)):
        if index and rng.random() >= 0.3:  # 30 %: same instant as the previous report
            moment += timedelta(seconds=rng.randrange(1, 90))
        status = label
        if label == "real":
            status = rng.choice(real_pool)
            if len(real_pool) > 1:
                real_pool.remove(status)  # a correction changes the status
            if status == "success" and rng.random() < 0.3:
                status = rng.choice(("done", "sucess"))
        if label == "installing" or (label in PROGRESS and rng.random() < 0.5):
            profile = _mutate(rng, profile) if index else profile
            body: Body = {**identity, **profile, "status": status}
            body.update(exit_code=0, error="", error_category="", install_duration=0)
        elif label in PROGRESS:  # minimal container ping
            body = {
                key: value
                for key, value in {**identity, **profile, "status": status}.items()
                if key in MINIMAL_PING_KEYS
            }
        else:
            body = {**identity, **profile, "status": status}
            body.update(_terminal_fields(rng, status, app))
        body["timestamp"] = format_timestamp(rng, moment)
        canonical = json.dumps(body, sort_keys=True)
        if canonical not in seen:
            seen.add(canonical)
            bodies.append(body)
    return Scenario(run_id=execution, bodies=tuple(bodies))


def generate_runs(seed: int, count: int, start: datetime) -> list[Scenario]:
    """``count`` runs, the n-th starting ``n`` minutes after ``start``."""
    rng = random.Random(seed)
    return [generate_run(rng, start + timedelta(minutes=n)) for n in range(count)]
