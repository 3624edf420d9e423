"""The dimensions runs are grouped and filtered by: one definition each, in SQL and Python.

The SQL expression serves queries over ``runs``; the Python function computes the same
key from a run's merged state, which is how rollups are maintained at ingest. Keys are
text (docs/analytics.md, "Dimensions"); None means the run has no value.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Any

from sqlalchemy import String, cast
from sqlalchemy.sql.elements import ColumnElement

from ingest.run_record import RunRecord
from storage.model.tables import RUNS


class Dimension(Enum):
    APP = "APP"
    KIND = "KIND"
    TYPE = "TYPE"
    OUTCOME = "OUTCOME"
    EXIT_CODE = "EXIT_CODE"
    ERROR_CATEGORY = "ERROR_CATEGORY"
    OS_TYPE = "OS_TYPE"
    OS_VERSION = "OS_VERSION"
    PVE_VERSION = "PVE_VERSION"
    METHOD = "METHOD"
    ARCH = "ARCH"
    PLATFORM = "PLATFORM"
    CPU_VENDOR = "CPU_VENDOR"
    GPU_VENDOR = "GPU_VENDOR"
    GPU_PASSTHROUGH = "GPU_PASSTHROUGH"
    CT_TYPE = "CT_TYPE"
    REPO_SOURCE = "REPO_SOURCE"
    REPO_SLUG = "REPO_SLUG"
    CORES = "CORES"
    RAM_GB = "RAM_GB"
    DISK_GB = "DISK_GB"


@dataclass(frozen=True, slots=True)
class DimensionSpec:
    sql: Callable[[], ColumnElement[Any]]
    key: Callable[[RunRecord], str | None]


# The column readers take any mapping: a RunRecord is one, and the column is chosen by
# name at run time (a TypedDict types its keys only when they are written out).
def _text_column(name: str) -> DimensionSpec:
    def key(run: Mapping[str, Any]) -> str | None:
        return run.get(name)

    return DimensionSpec(sql=lambda: RUNS.c[name], key=key)


def _int_column(name: str) -> DimensionSpec:
    def key(run: Mapping[str, Any]) -> str | None:
        value = run.get(name)
        return None if value is None else str(value)

    return DimensionSpec(sql=lambda: cast(RUNS.c[name], String), key=key)


def _os_version_key(run: RunRecord) -> str | None:
    os_type, os_version = run.get("os_type"), run.get("os_version")
    return None if os_type is None or os_version is None else f"{os_type} {os_version}"


def _ram_gb_key(run: RunRecord) -> str | None:
    ram_mb = run.get("ram_mb")
    return None if ram_mb is None else str((ram_mb + 512) // 1024)


# OUTCOME is not here: its key depends on the time of the query (analytics/outcome.py).
DIMENSIONS: dict[Dimension, DimensionSpec] = {
    Dimension.APP: _text_column("app"),
    Dimension.KIND: _text_column("kind"),
    Dimension.TYPE: _text_column("type"),
    Dimension.EXIT_CODE: _int_column("exit_code"),
    Dimension.ERROR_CATEGORY: _text_column("error_category"),
    Dimension.OS_TYPE: _text_column("os_type"),
    Dimension.OS_VERSION: DimensionSpec(
        sql=lambda: RUNS.c.os_type + " " + RUNS.c.os_version, key=_os_version_key
    ),
    Dimension.PVE_VERSION: _text_column("pve_version"),
    Dimension.METHOD: _text_column("method"),
    Dimension.ARCH: _text_column("arch"),
    Dimension.PLATFORM: _text_column("platform"),
    Dimension.CPU_VENDOR: _text_column("cpu_vendor"),
    Dimension.GPU_VENDOR: _text_column("gpu_vendor"),
    Dimension.GPU_PASSTHROUGH: _text_column("gpu_passthrough"),
    Dimension.CT_TYPE: _int_column("ct_type"),
    Dimension.REPO_SOURCE: _text_column("repo_source"),
    Dimension.REPO_SLUG: _text_column("repo_slug"),
    Dimension.CORES: _int_column("cores"),
    Dimension.RAM_GB: DimensionSpec(
        sql=lambda: cast((RUNS.c.ram_mb + 512) // 1024, String), key=_ram_gb_key
    ),
    Dimension.DISK_GB: _int_column("disk_gb"),
}

# Dimensions kept in the per-dimension rollup (APP has its own, KIND and OUTCOME are
# key columns of every rollup).
ROLLED_UP_DIMENSIONS = tuple(d for d in DIMENSIONS if d not in (Dimension.APP, Dimension.KIND))
