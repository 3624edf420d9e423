"""A weighted choice that costs one ``random()`` and one bisect per draw.

``random.choices`` rebuilds its cumulative weights on every call; the generator draws
tens of millions of values, so the cumulative table is built once per distribution.
"""

from __future__ import annotations

import random
from bisect import bisect_right
from collections.abc import Callable, Iterable
from itertools import accumulate
from typing import Generic, TypeVar

T = TypeVar("T")
U = TypeVar("U")


class Weighted(Generic[T]):
    """Values drawn with probability proportional to their weight."""

    __slots__ = ("_cumulative", "_total", "values")

    def __init__(self, weighted: Iterable[tuple[T, float]]) -> None:
        pairs = list(weighted)
        if not pairs or any(weight < 0 for _, weight in pairs):
            raise ValueError("a weighted choice needs values with non-negative weights")
        self.values: tuple[T, ...] = tuple(value for value, _ in pairs)
        self._cumulative = list(accumulate(weight for _, weight in pairs))
        self._total = self._cumulative[-1]
        if self._total <= 0:
            raise ValueError("a weighted choice needs a positive total weight")

    def map(self, function: Callable[[T], U]) -> Weighted[U]:
        """The same weights over ``function`` of each value."""
        low = 0.0
        pairs = []
        for value, high in zip(self.values, self._cumulative, strict=True):
            pairs.append((function(value), high - low))
            low = high
        return Weighted(pairs)

    def pick(self, rng: random.Random) -> T:
        index = bisect_right(self._cumulative, rng.random() * self._total)
        return self.values[min(index, len(self.values) - 1)]
