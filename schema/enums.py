"""GraphQL enums shared by run types and (later) analytics filters."""

from __future__ import annotations

from enum import Enum

import strawberry


@strawberry.enum(description="What a run did: install a container/VM/tool, or update an app.")
class Kind(Enum):
    INSTALL = "INSTALL"
    UPDATE = "UPDATE"


@strawberry.enum(
    description=(
        "Derived result of a run. FAILED with exit code 129/130/143 is ABORTED. Runs "
        "without a terminal status are IN_PROGRESS, or UNFINISHED once their last report "
        "(by event time) is older than the configured age (default 3 h); derived at read "
        "time, never stored as events."
    )
)
class Outcome(Enum):
    SUCCESS = "SUCCESS"
    FAILED = "FAILED"
    ABORTED = "ABORTED"
    UNKNOWN = "UNKNOWN"
    UNFINISHED = "UNFINISHED"
    IN_PROGRESS = "IN_PROGRESS"
