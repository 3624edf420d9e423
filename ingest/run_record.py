"""The merged run as the code passes it around: one record per run, keyed by column.

The merge builds it (ingest/merge.py), the writer stores it and reads it back, the
rollups and the live feed read it. It is a plain dict at run time (the ingest hot path
copies and updates thousands of them per batch); the TypedDict only tells the type
checker which keys exist and what each holds. Keys and types are those of the runs
table (storage/model/tables.py RunBase); tests/test_single_sources.py pins them equal.
"""

from __future__ import annotations

from datetime import datetime
from typing import Final, Literal, TypedDict, get_args

# Columns a report describes the run with; a later non-empty value replaces an earlier
# one, an empty value never replaces anything (container pings are minimal).
DescriptiveColumn = Literal[
    "app", "type", "container_id", "ct_type", "disk_gb", "cores", "ram_mb", "os_type",
    "os_version", "pve_version", "method", "cpu_vendor", "cpu_model", "gpu_vendor",
    "gpu_model", "gpu_passthrough", "ram_speed", "arch", "platform", "has_arm", "repo_source",
    "repo_slug", "payload_version", "kernel_version", "app_version", "disableip6",
]  # fmt: skip
# Columns that only a terminal report's values describe: they describe the run's result.
ResultColumn = Literal[
    "exit_code", "exit_code_inferred", "error", "error_category", "failed_command",
    "failed_line", "duration_seconds",
]  # fmt: skip
DESCRIPTIVE_COLUMNS: tuple[DescriptiveColumn, ...] = get_args(DescriptiveColumn)
RESULT_COLUMNS: frozenset[ResultColumn] = frozenset(get_args(ResultColumn))


class RunDescription(TypedDict):
    """The columns a report describes the run with (DescriptiveColumn, in that order)."""

    app: str | None
    type: str | None
    container_id: int | None
    ct_type: int | None
    disk_gb: int | None
    cores: int | None
    ram_mb: int | None
    os_type: str | None
    os_version: str | None
    pve_version: str | None
    method: str | None
    cpu_vendor: str | None
    cpu_model: str | None
    gpu_vendor: str | None
    gpu_model: str | None
    gpu_passthrough: str | None
    ram_speed: str | None
    arch: str | None
    platform: str | None
    has_arm: bool | None
    repo_source: str | None
    repo_slug: str | None
    payload_version: int | None
    kernel_version: str | None
    app_version: str | None
    disableip6: str | None


class RunRecord(RunDescription):
    """One run's merged view; ``outcome`` is a stored Outcome value (never UNFINISHED)."""

    id: str
    kind: str
    execution_id: str | None
    session_id: str | None
    status: str
    status_normalised: str
    outcome: str
    exit_code: int | None
    exit_code_inferred: bool
    error: str | None
    error_category: str | None
    failed_command: str | None
    failed_line: int | None
    duration_seconds: int | None
    started_at: datetime
    last_seen_at: datetime
    finished_at: datetime | None
    event_count: int
    last_order_key: str


# A run that no report has described yet (spread into new runs; never mutate it).
NO_DESCRIPTION: Final[RunDescription] = {
    "app": None,
    "type": None,
    "container_id": None,
    "ct_type": None,
    "disk_gb": None,
    "cores": None,
    "ram_mb": None,
    "os_type": None,
    "os_version": None,
    "pve_version": None,
    "method": None,
    "cpu_vendor": None,
    "cpu_model": None,
    "gpu_vendor": None,
    "gpu_model": None,
    "gpu_passthrough": None,
    "ram_speed": None,
    "arch": None,
    "platform": None,
    "has_arm": None,
    "repo_source": None,
    "repo_slug": None,
    "payload_version": None,
    "kernel_version": None,
    "app_version": None,
    "disableip6": None,
}
