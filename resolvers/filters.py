"""Turning the GraphQL RunFilter input into the storage filter, with its limits."""

from __future__ import annotations

from typing import TypeVar

from graphql import GraphQLError

from schema.filters import MAX_FILTER_VALUES, RunFilter
from storage.analytics.filters import RunFilter as StorageFilter
from storage.model.dimensions import Dimension

T = TypeVar("T")

# Input list -> dimension, and whether values are stored lower-case.
LISTS: dict[str, tuple[Dimension, bool]] = {
    "apps": (Dimension.APP, True),
    "kinds": (Dimension.KIND, False),
    "types": (Dimension.TYPE, True),
    "exit_codes": (Dimension.EXIT_CODE, False),
    "error_categories": (Dimension.ERROR_CATEGORY, True),
    "os_types": (Dimension.OS_TYPE, True),
    "pve_versions": (Dimension.PVE_VERSION, False),
    "methods": (Dimension.METHOD, True),
    "archs": (Dimension.ARCH, True),
    "platforms": (Dimension.PLATFORM, True),
    "repo_sources": (Dimension.REPO_SOURCE, False),
    "repo_slugs": (Dimension.REPO_SLUG, False),
}


def to_storage_filter(run_filter: RunFilter | None) -> StorageFilter:
    if run_filter is None:
        return StorageFilter()
    for name in ("since", "until"):
        moment = getattr(run_filter, name)
        if moment is not None and moment.tzinfo is None:
            # The filter compares instants; a time without a UTC offset names none.
            raise GraphQLError(f"filter.{name}: give a UTC offset, e.g. 2025-01-01T00:00:00Z")
    if run_filter.since and run_filter.until and run_filter.since >= run_filter.until:
        raise GraphQLError("filter: since must be before until")
    values: dict[Dimension, frozenset[str]] = {}
    for name, (dimension, lower) in LISTS.items():
        given = _bounded(name, getattr(run_filter, name))
        if given:
            texts = {_text(value) for value in given}
            values[dimension] = frozenset(t.lower() for t in texts) if lower else frozenset(texts)
    os_versions = _bounded("os_versions", run_filter.os_versions)
    outcomes = _bounded("outcomes", run_filter.outcomes)
    return StorageFilter(
        since=run_filter.since,
        until=run_filter.until,
        values=values,
        outcomes=frozenset(_text(o) for o in outcomes or ()),
        os_versions=frozenset(str(version) for version in os_versions or ()),
    )


def _text(value: object) -> str:
    return str(getattr(value, "value", value))


def _bounded(name: str, values: list[T] | None) -> list[T] | None:
    if values is not None and len(values) > MAX_FILTER_VALUES:
        raise GraphQLError(f"filter.{name}: at most {MAX_FILTER_VALUES} values, got {len(values)}")
    return values
