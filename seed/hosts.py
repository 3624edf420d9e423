"""What a run's reports say about its host and guest, and the run columns that gives.

Installs come from a population of Proxmox hosts, each with its hardware and the PVE
release it runs early in the range and after its upgrade (PVE 9 and Debian 13 grow
over the year); each install picks a host, a guest size, an OS and a method. Every
part is prepared once as wire fields plus the run columns they set (ingest/merge.py
DESCRIPTIVE_COLUMNS), so a run's metadata is a few dict merges rather than a dozen
draws and conversions. tests/test_bulk.py folds generated events through the real
ingest code to check the columns agree with the wire fields.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any, NamedTuple, cast

from ingest.merge import DESCRIPTIVE_COLUMNS
from ingest.report import FIELDS
from ingest.run_record import RunDescription
from seed import catalog
from seed.apps import App

GUEST_TYPES = frozenset({"lxc", "vm", "turnkey"})
ARM64_SHARE = 0.06
HOSTS = 4096
GUEST_SIZES = 1024
# Fields of the container's own minimal "configuring" ping (docs/semantics.md, "Current client").
MINIMAL_PING_KEYS = ("type", "nsapp", "platform", "repo_source", "repo_slug")

# raw key -> the run column it feeds (ingest/report.py).
_COLUMN_OF = {key: column for key, (column, _) in FIELDS.items()}
_NO_COLUMNS: dict[str, Any] = dict.fromkeys(DESCRIPTIVE_COLUMNS)


@dataclass(frozen=True, slots=True)
class Fields:
    """Some fields of a report as sent, and the run columns a fold of them sets
    (empty text is no value)."""

    wire: dict[str, Any]
    columns: dict[str, Any]

    @classmethod
    def of(cls, wire: dict[str, Any]) -> Fields:
        columns = {_COLUMN_OF[key]: None if value == "" else value for key, value in wire.items()}
        return cls(wire, columns)


class Metadata(NamedTuple):  # a tuple: built for every run, so cheap to build
    """The descriptive part of a run's full reports, and all descriptive run columns."""

    wire: dict[str, Any]
    columns: RunDescription
    payload_version: int | None

    def minimal_ping(self) -> dict[str, Any]:
        return {key: self.wire[key] for key in MINIMAL_PING_KEYS}


@dataclass(frozen=True, slots=True)
class Host:
    # Indexed by 2 * upgraded + payload_v2: what the host reports before/after its
    # PVE upgrade, from a payload v1 or v2 client.
    variants: tuple[Fields, Fields, Fields, Fields]
    # Add-ons and host tools report the host's own Debian (before/after the upgrade).
    host_os: tuple[Fields, Fields]


def _os(value: tuple[str, str]) -> Fields:
    return Fields.of({"os_type": value[0], "os_version": value[1]})


OS_EARLY = catalog.OS_EARLY.map(_os)
OS_LATE = catalog.OS_LATE.map(_os)
ALPINE = catalog.ALPINE.map(_os)
METHODS = catalog.METHODS.map(lambda method: Fields.of({"method": method}))


class Population:
    """The hosts and guest sizes of one plan, drawn once from its seeded ``rng``."""

    def __init__(self, rng: random.Random) -> None:
        self.hosts = [_draw_host(rng) for _ in range(HOSTS)]
        self.containers = [_draw_guest(rng, vm=False) for _ in range(GUEST_SIZES)]
        self.vms = [_draw_guest(rng, vm=True) for _ in range(GUEST_SIZES // 4)]

    def install(
        self, rng: random.Random, app: App, position: float, payload_v2: bool, app_version: str
    ) -> Metadata:
        """A current client's install report fields for ``app``, ``position`` into the
        range (0 oldest, 1 now): later runs come more often from upgraded hosts."""
        upgraded = rng.random() < position
        host = self.hosts[int(rng.random() * HOSTS)]
        variant = host.variants[2 * upgraded + payload_v2]
        app_fields = {"type": app.type, "nsapp": app.slug}
        if app.type in GUEST_TYPES:
            guests = self.vms if app.type == "vm" else self.containers
            guest = guests[int(rng.random() * len(guests))]
            if app.slug.startswith("alpine"):
                os = ALPINE.pick(rng)
            else:
                os = (OS_LATE if upgraded else OS_EARLY).pick(rng)
            method = METHODS.pick(rng)
            wire = app_fields | guest.wire | os.wire | method.wire | variant.wire
            columns = _NO_COLUMNS | guest.columns | os.columns | method.columns | variant.columns
        else:
            os = host.host_os[upgraded]
            wire = app_fields | os.wire | variant.wire
            columns = _NO_COLUMNS | os.columns | variant.columns
        columns["app"] = app.slug
        columns["type"] = app.type
        if payload_v2:
            wire["app_version"] = columns["app_version"] = app_version
        return Metadata(wire, cast(RunDescription, columns), 2 if payload_v2 else None)


def update_metadata(rng: random.Random, app: App, position: float, app_version: str) -> Metadata:
    """An application update report (POST /update): container id, app, version, OS."""
    upgraded = rng.random() < position
    if app.slug.startswith("alpine"):
        os = ALPINE.pick(rng)
    else:
        os = (OS_LATE if upgraded else OS_EARLY).pick(rng)
    fields = Fields.of(
        {
            "ctid": rng.randint(100, 999),
            "app": app.slug,
            "type": app.type,
            "version": app_version,
            **os.wire,
            "pve_version": (catalog.PVE_LATE if upgraded else catalog.PVE_EARLY).pick(rng),
            "arch": "arm64" if rng.random() < ARM64_SHARE else "amd64",
        }
    )
    return Metadata(fields.wire, cast(RunDescription, _NO_COLUMNS | fields.columns), None)


def _draw_host(rng: random.Random) -> Host:
    arm = rng.random() < ARM64_SHARE
    cpu_vendor, cpu_model = (catalog.CPUS_ARM64 if arm else catalog.CPUS_AMD64).pick(rng)
    if arm:
        gpus = catalog.GPUS_NONE
    else:
        gpus = catalog.GPUS_INTEL if cpu_vendor == "intel" else catalog.GPUS_AMD
    gpu_vendor, gpu_model = gpus.pick(rng)
    repo_source, repo_slug = catalog.REPOS.pick(rng)
    hardware = {
        "cpu_vendor": cpu_vendor,
        "cpu_model": cpu_model,
        "gpu_vendor": gpu_vendor,
        "gpu_model": gpu_model,
        "ram_speed": catalog.RAM_SPEEDS.pick(rng),
        "arch": "arm64" if arm else "amd64",
        "has_arm": arm,
        "repo_source": repo_source,
        "repo_slug": repo_slug,
    }
    passthrough = (catalog.PASSTHROUGH_V1.pick(rng), catalog.PASSTHROUGH_V2.pick(rng))
    variants = []
    host_os = []
    for pve_version in (catalog.PVE_EARLY.pick(rng), catalog.PVE_LATE.pick(rng)):
        incus = pve_version.startswith("incus-")
        kernels = catalog.INCUS_KERNELS if incus else catalog.KERNELS[pve_version[0]]
        kernel = kernels[int(rng.random() * len(kernels))]
        system = {"pve_version": pve_version, "platform": "incus" if incus else "pve"}
        variants.append(Fields.of(system | hardware | {"gpu_passthrough": passthrough[0]}))
        v2 = {"gpu_passthrough": passthrough[1], "payload_version": 2, "kernel_version": kernel}
        variants.append(Fields.of(system | hardware | v2))
        debian = "13" if pve_version.startswith("9") else "12"
        host_os.append(Fields.of({"os_type": "debian", "os_version": debian}))
    return Host((variants[0], variants[1], variants[2], variants[3]), (host_os[0], host_os[1]))


def _draw_guest(rng: random.Random, *, vm: bool) -> Fields:
    return Fields.of(
        {
            "ct_type": 2 if vm else catalog.CT_TYPES.pick(rng),
            "disk_size": catalog.DISK_GB.pick(rng) * (4 if vm else 1),
            "core_count": catalog.CORES.pick(rng),
            "ram_size": catalog.RAM_MB.pick(rng),
        }
    )
