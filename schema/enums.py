"""GraphQL enums shared by run types and analytics filters."""

from __future__ import annotations

from enum import Enum

import strawberry

from ingest.statuses import Outcome

__all__ = ["Kind", "Outcome"]


@strawberry.enum(description="What a run did: install a container/VM/tool, or update an app.")
class Kind(Enum):
    INSTALL = "INSTALL"
    UPDATE = "UPDATE"


# The one Outcome (ingest/statuses.py), registered as the GraphQL enum in place: the
# schema then names exactly the outcomes that ingest stores and analytics count.
strawberry.enum(
    Outcome,
    description=(
        "Derived result of a run. FAILED with exit code 129/130/143 is ABORTED. Runs "
        "without a terminal status are IN_PROGRESS, or UNFINISHED once their last report "
        "(by event time) is older than the configured age (default 3 h); derived at read "
        "time, never stored as events."
    ),
)
