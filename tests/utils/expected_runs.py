"""Expected runs as GraphQL ``run(id)`` returns them, for the client-generation replays.

``run_fields`` makes a complete expectation: the fields a scenario names, every other
``Run`` field empty. ``HOST_METADATA_FIELDS`` and ``UPLOAD_METADATA_FIELDS`` are what
the bodies built by ``tests.utils.client_payloads`` describe, field by field.
"""

from __future__ import annotations

from dataclasses import dataclass

# Every field read back, in the query's order; the times are checked against events.
RUN_FIELDS = (
    "id",
    "executionId",
    "sessionId",
    "kind",
    "app",
    "type",
    "status",
    "outcome",
    "exitCode",
    "exitCodeInferred",
    "errorCategory",
    "error",
    "failedCommand",
    "failedLine",
    "startedAt",
    "lastSeenAt",
    "finishedAt",
    "durationSeconds",
    "ctid",
    "ctType",
    "diskGb",
    "cores",
    "ramMb",
    "osType",
    "osVersion",
    "pveVersion",
    "method",
    "cpuVendor",
    "cpuModel",
    "gpuVendor",
    "gpuModel",
    "gpuPassthrough",
    "ramSpeed",
    "arch",
    "platform",
    "hasArm",
    "repoSource",
    "repoSlug",
    "appVersion",
    "kernelVersion",
    "payloadVersion",
    "eventCount",
)
TIME_FIELDS = ("startedAt", "lastSeenAt", "finishedAt")

# Every run field that a scenario's table does not mention must be empty.
EMPTY_RUN: dict[str, object] = {
    name: None for name in RUN_FIELDS if name not in TIME_FIELDS and name != "id"
} | {"exitCodeInferred": False}

# What the current client's host events (client_payloads.HOST_METADATA) describe.
HOST_METADATA_FIELDS: dict[str, object] = {
    "type": "lxc",
    "ctType": 1,
    "diskGb": 8,
    "cores": 2,
    "ramMb": 2048,
    "osType": "debian",
    "osVersion": "12",
    "pveVersion": "8.4.1",
    "method": "default",
    "cpuVendor": "amd",
    "cpuModel": "AMD EPYC",
    "gpuVendor": "unknown",
    "gpuModel": None,
    "gpuPassthrough": "unknown",
    "ramSpeed": None,
    "arch": "amd64",
    "platform": "pve",
    "hasArm": False,
    "repoSource": "ProxmoxVE",
    "repoSlug": "community-scripts/ProxmoxVE",
}

# What the previous client's /upload (client_payloads.upload_install) describes.
UPLOAD_METADATA_FIELDS: dict[str, object] = {
    "type": "lxc",
    "ctType": 1,
    "diskGb": 8,
    "cores": 2,
    "ramMb": 2048,
    "osType": "debian",
    "osVersion": "12",
    "pveVersion": "8.4.1",
    "method": "default",
}


class OneOf:
    """An expected field value where the design leaves a choice between a few."""

    def __init__(self, *options: object) -> None:
        self.options = options

    def __eq__(self, other: object) -> bool:
        return other in self.options

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"OneOf{self.options!r}"


def run_fields(**fields: object) -> dict[str, object]:
    """A complete expected run: the given fields, every other one empty."""
    unknown = set(fields) - set(EMPTY_RUN)
    assert not unknown, f"not Run fields: {unknown}"
    return EMPTY_RUN | fields


@dataclass(frozen=True)
class ExpectedRun:
    """Every field of one run, and which post's event time its finishedAt must be."""

    fields: dict[str, object]
    finished_by: str | None  # label of the terminal post whose event time is finishedAt
