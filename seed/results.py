"""How a run ends: its terminal status, exit code, error trace and duration.

The mix follows the real service (about 80 % success, 12 % failed, 4 % aborted, 1 %
unknown, the rest never finished), with a per-app failure rate and per-app favourite
exit codes so that app rankings and error histograms have some shape. Error texts
have the current client's form ``exit_code=N | <explanation> | at line L: <command>``.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from typing import NamedTuple

from ingest.exit_codes import category_for, lookup_exit_code
from seed import catalog
from seed.weighted import Weighted

SUCCESS, FAILED, ABORTED, UNKNOWN, ABANDONED = "success", "failed", "aborted", "unknown", None
FAILED_SHARE = 0.12
ABORTED_SHARE = 0.04
UNKNOWN_SHARE = 0.01
ABANDONED_SHARE = 0.03
# Share of aborts an older current client reports as "failed" with the signal's code.
ABORT_AS_FAILED = 0.2
FAVOURITE_CODE_SHARE = 0.45
# Failures of these families happen while the container is created, before configuring.
EARLY_CATEGORIES = frozenset({"proxmox", "storage", "config"})
MIN_DURATION, MAX_DURATION = 30, 3600


@dataclass(frozen=True, slots=True)
class AppTraits:
    """What makes one app's runs differ from another's."""

    failure_factor: float  # multiplies FAILED_SHARE; popularity-weighted mean 1
    favourite_codes: tuple[int, int]
    log_median_seconds: float  # of a successful run's duration
    version: tuple[int, int]  # major, minor of the app version it installs


class Result(NamedTuple):  # a tuple: built for every run, so cheap to build
    """A run's ending; ``status`` None means it never reported one (abandoned)."""

    status: str | None
    exit_code: int | None
    category: str | None
    error: str | None
    duration: int  # seconds from the first report to the terminal one
    failed_line: int | None
    failed_command: str | None
    early: bool  # failed before the container reported "configuring"


def draw_traits(rng: random.Random) -> AppTraits:
    return AppTraits(
        failure_factor=math.exp(rng.gauss(0.0, 0.55)),
        favourite_codes=(catalog.FAILURE_CODES.pick(rng), catalog.FAILURE_CODES.pick(rng)),
        log_median_seconds=rng.uniform(math.log(90), math.log(900)),
        version=(rng.randint(0, 30), rng.randint(0, 20)),
    )


def outcome_choice(traits: AppTraits, failure_scale: float) -> Weighted[str | None]:
    failed = FAILED_SHARE * traits.failure_factor * failure_scale
    success = 1.0 - failed - ABORTED_SHARE - UNKNOWN_SHARE - ABANDONED_SHARE
    return Weighted(
        [
            (SUCCESS, max(success, 0.05)),
            (FAILED, failed),
            (ABORTED, ABORTED_SHARE),
            (UNKNOWN, UNKNOWN_SHARE),
            (ABANDONED, ABANDONED_SHARE),
        ]
    )


def draw_result(
    rng: random.Random, traits: AppTraits, outcomes: Weighted[str | None], with_command: bool
) -> Result:
    """One run's ending; ``with_command``: payload v2 also reports the failed command."""
    full = int(math.exp(rng.gauss(traits.log_median_seconds, 0.6)))
    full = min(max(full, MIN_DURATION), MAX_DURATION)
    status = outcomes.pick(rng)
    if status == SUCCESS:
        return Result(SUCCESS, 0, None, None, full, None, None, early=False)
    if status in (UNKNOWN, ABANDONED):
        category = "unknown" if status == UNKNOWN else None
        return Result(status, None, category, None, full, None, None, early=False)
    if status == ABORTED:
        code = catalog.ABORT_CODES.pick(rng)
        if rng.random() < ABORT_AS_FAILED:
            status = FAILED
    elif rng.random() < FAVOURITE_CODE_SHARE:
        code = traits.favourite_codes[int(rng.random() * 2)]
    else:
        code = catalog.FAILURE_CODES.pick(rng)
    category = category_for(code) or "unknown"
    line = rng.randint(12, 1400)
    command = _command(rng, category)
    duration = max(5, int(full * rng.uniform(0.05, 0.9)))
    return Result(
        status,
        code,
        category,
        error_text(rng, code, line, command),
        duration,
        line if with_command else None,
        command if with_command else None,
        early=category in EARLY_CATEGORIES,
    )


def _command(rng: random.Random, category: str) -> str:
    commands = catalog.COMMANDS_BY_CATEGORY.get(category, catalog.DEFAULT_COMMANDS)
    return commands[int(rng.random() * len(commands))]


def error_text(rng: random.Random, code: int, line: int, command: str) -> str:
    """The current client's focused trace: one summary line, sometimes a log excerpt."""
    explanation = lookup_exit_code(code).descriptions[0]
    summary = f"exit_code={code} | {explanation} | at line {line}: {command}"
    if rng.random() < 0.6:
        return summary
    count = 1 + int(rng.random() * 3)
    logs = "\n".join(
        catalog.LOG_LINES[int(rng.random() * len(catalog.LOG_LINES))] for _ in range(count)
    )
    return f"{summary}\n---\n{logs}"
