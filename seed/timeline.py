"""When runs start: in time order, denser in the evening, at weekends and as time goes on.

Run ``i`` of ``n`` starts at the inverse of a traffic curve's cumulative share, taken at
a random point of the ``i``-th of ``n`` equal slices. The start times therefore come
out sorted, so the generator can stream runs in time order without holding them, and
still follow the curve: the real service sees most installs in European evenings,
more at weekends, and a user base that grows over the year.
"""

from __future__ import annotations

import math
import random
from bisect import bisect_right
from datetime import datetime, timedelta

HOUR = 3600.0
# Relative traffic by UTC hour of day (peak around 18-20 UTC, trough around 03 UTC).
DIURNAL = tuple(1.0 + 0.6 * math.cos((hour - 19) / 24 * 2 * math.pi) for hour in range(24))
WEEKEND_FACTOR = 1.3
GROWTH = 1.8  # traffic at the end of the range relative to its start


class Timeline:
    """Start times for ``runs`` runs spread over [``now`` - ``days``, ``now``]."""

    def __init__(self, now: datetime, days: float, runs: int) -> None:
        if days <= 0:
            raise ValueError("days must be positive")
        self.end = now.timestamp()
        self.start = (now - timedelta(days=days)).timestamp()
        self.runs = runs
        self._slot_starts: list[float] = []
        self._cumulative: list[float] = []
        self._build_slots(now - timedelta(days=days))

    def _build_slots(self, range_start: datetime) -> None:
        """One slot per hour (the last one cut at ``now``), weighted by the traffic curve."""
        span = self.end - self.start
        total = 0.0
        moment = self.start
        first_hour = range_start.hour
        first_weekday = range_start.weekday()
        index = 0
        while moment < self.end:
            length = min(HOUR, self.end - moment)
            hour = (first_hour + index) % 24
            weekday = (first_weekday + (first_hour + index) // 24) % 7
            weight = DIURNAL[hour] * (WEEKEND_FACTOR if weekday >= 5 else 1.0)
            weight *= 1.0 + (GROWTH - 1.0) * (moment - self.start) / span
            self._slot_starts.append(moment)
            total += weight * length / HOUR
            self._cumulative.append(total)
            moment += length
            index += 1
        self._cumulative = [value / total for value in self._cumulative]

    def start_of(self, index: int, rng: random.Random) -> float:
        """Epoch seconds at which run ``index`` starts; increasing in ``index``."""
        share = (index + rng.random()) / self.runs
        slot = min(bisect_right(self._cumulative, share), len(self._cumulative) - 1)
        low = self._cumulative[slot - 1] if slot else 0.0
        high = self._cumulative[slot]
        slot_start = self._slot_starts[slot]
        slot_end = min(slot_start + HOUR, self.end)
        within = 0.0 if high <= low else (share - low) / (high - low)
        return slot_start + within * (slot_end - slot_start)

    def position(self, moment: float) -> float:
        """Where ``moment`` lies in the range: 0 at its start, 1 at ``now``."""
        return (moment - self.start) / (self.end - self.start)
