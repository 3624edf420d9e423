"""The RunFilter input shared by every aggregate, the runs list and the live feed."""

from __future__ import annotations

from datetime import datetime

import strawberry

from schema.enums import Kind, Outcome

MAX_FILTER_VALUES = 100


@strawberry.input(
    description=(
        "Which runs to count. since (inclusive) and until (exclusive) apply to the run's "
        "start time (event time of its first report). Lists are OR within, AND across; an "
        f"omitted or empty list does not restrict; at most {MAX_FILTER_VALUES} values each."
    )
)
class RunFilter:
    since: datetime | None = None
    until: datetime | None = None
    apps: list[str] | None = None
    kinds: list[Kind] | None = None
    types: list[str] | None = None
    outcomes: list[Outcome] | None = strawberry.field(
        default=None, description="Effective outcomes (UNFINISHED and IN_PROGRESS derived now)."
    )
    exit_codes: list[int] | None = None
    error_categories: list[str] | None = None
    os_types: list[str] | None = None
    os_versions: list[str] | None = strawberry.field(
        default=None, description='The version alone, e.g. "12".'
    )
    pve_versions: list[str] | None = None
    methods: list[str] | None = None
    archs: list[str] | None = None
    platforms: list[str] | None = None
    repo_sources: list[str] | None = None
    repo_slugs: list[str] | None = None
