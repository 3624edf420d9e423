"""Rates and their 95 % Wilson interval, and the per-outcome counts they are made from.

Expected intervals come from the other closed form of the Wilson score interval,
(2np + z² ± z·√(z² + 4np(1−p))) / (2(n + z²)), with z from the normal distribution,
and from published values; neither uses storage.analytics.outcomes.
"""

from __future__ import annotations

import math
from dataclasses import FrozenInstanceError
from statistics import NormalDist

import pytest

from ingest.statuses import EFFECTIVE_OUTCOMES
from storage.analytics.outcomes import Z_95, OutcomeCounts, Rate

Z = NormalDist().inv_cdf(0.975)


def _wilson(successes: int, n: int) -> tuple[float, float]:
    p = successes / n
    root = Z * math.sqrt(Z * Z + 4 * n * p * (1 - p))
    return (2 * n * p + Z * Z - root) / (2 * (n + Z * Z)), (2 * n * p + Z * Z + root) / (
        2 * (n + Z * Z)
    )


def test_z_is_the_two_sided_95_percent_quantile() -> None:
    assert pytest.approx(Z, abs=1e-12) == Z_95


def test_rate_value_is_the_plain_fraction_and_none_without_a_denominator() -> None:
    assert Rate(3, 4).value == 0.75
    assert Rate(0, 7).value == 0.0
    assert Rate(0, 0).value is None
    assert Rate(0, 0).wilson == (None, None)


@pytest.mark.parametrize(
    ("successes", "n"), [(1, 1), (8, 10), (1, 2), (3, 7), (50, 100), (999, 1000), (1, 1000)]
)
def test_wilson_interval_matches_the_other_closed_form(successes: int, n: int) -> None:
    low, high = Rate(successes, n).wilson
    expected_low, expected_high = _wilson(successes, n)
    assert low == pytest.approx(expected_low, abs=1e-12)
    assert high == pytest.approx(expected_high, abs=1e-12)
    assert low is not None and high is not None
    assert 0.0 <= low < successes / n <= high <= 1.0


def test_wilson_interval_of_8_in_10_is_the_published_one() -> None:
    low, high = Rate(8, 10).wilson
    assert (round(low or 0, 4), round(high or 0, 4)) == (0.4902, 0.9433)


@pytest.mark.parametrize("n", [1, 2, 16, 17, 100, 12345])
def test_all_successes_give_an_upper_bound_of_exactly_one(n: int) -> None:
    """Rounding gives 1.0000000000000002 for n = 16 unless the bound is clamped."""
    low, high = Rate(n, n).wilson
    assert high == 1.0
    assert low == pytest.approx(n / (n + Z * Z), abs=1e-12)


@pytest.mark.parametrize("n", [1, 2, 3, 16, 17, 21, 100, 12345])
def test_no_successes_give_a_lower_bound_of_zero(n: int) -> None:
    """Exactly 0.0 where rounding would go below it (n = 21); for some n (3, 100) the
    centre and half-width round apart and the bound is a few 1e-17 above zero."""
    low, high = Rate(0, n).wilson
    assert low == pytest.approx(0.0, abs=1e-15)
    assert low is not None and low >= 0.0
    assert high == pytest.approx(Z * Z / (n + Z * Z), abs=1e-12)
    if n in (1, 2, 16, 17, 21, 12345):
        assert low == 0.0


def test_add_counts_runs_and_events_under_the_outcome() -> None:
    counts = OutcomeCounts()
    counts.add("FAILED", 2, 5)
    counts.add("FAILED", 3)
    counts.add("UNFINISHED", 4, 9)
    assert (counts.runs, counts.events, counts.failed, counts.unfinished) == (9, 14, 5, 4)
    assert (counts.success, counts.aborted, counts.unknown, counts.in_progress) == (0, 0, 0, 0)


def test_add_all_takes_the_runs_in_effective_outcome_order() -> None:
    assert EFFECTIVE_OUTCOMES == (
        "SUCCESS", "FAILED", "ABORTED", "UNKNOWN", "UNFINISHED", "IN_PROGRESS",
    )  # fmt: skip
    counts = OutcomeCounts(runs=100, events=1000, success=10)
    # Sums whose parts share bits, so that ^ or | in place of + would show.
    counts.add_all((3, 5, 7, 11, 13, 9), 7)
    counts.add_all((1, 1, 1, 1, 1, 1), 1)
    assert counts == OutcomeCounts(
        runs=100 + 48 + 6,
        events=1008,
        success=14,
        failed=6,
        aborted=8,
        unknown=12,
        unfinished=14,
        in_progress=10,
    )


def test_rates_are_immutable_values_and_counts_have_fixed_fields() -> None:
    """Rates are shared between resolvers and hashed; the counts are slotted (millions
    are made per query) and a misspelt field must fail, not add an attribute."""
    rate = Rate(1, 2)
    with pytest.raises(FrozenInstanceError):
        rate.numerator = 2  # type: ignore[misc]
    assert hash(rate) == hash(Rate(1, 2))
    for value in (rate, OutcomeCounts()):
        assert not hasattr(value, "__dict__")
    with pytest.raises(AttributeError):
        OutcomeCounts().succes = 1  # type: ignore[attr-defined]


@pytest.mark.parametrize("field", ["success", "failed", "aborted", "unknown", "unfinished"])
def test_any_outcome_looks_at_the_outcome_counts_only(field: str) -> None:
    assert not OutcomeCounts().any_outcome()
    assert not OutcomeCounts(runs=3, events=4).any_outcome()
    assert OutcomeCounts(**{field: 1}).any_outcome()
    assert OutcomeCounts(in_progress=1).any_outcome()


def test_success_and_failure_rates_leave_aborted_unknown_and_open_runs_out() -> None:
    counts = OutcomeCounts(success=6, failed=2, aborted=5, unknown=7, unfinished=1, in_progress=3)
    assert counts.success_rate == Rate(6, 8)
    assert counts.failure_rate == Rate(2, 8)
