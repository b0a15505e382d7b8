"""Which entity a load user picks next: a Zipf-skewed draw over a fixed key space.

Pure and seeded by the caller, so the skew is tested without Locust.
"""

from __future__ import annotations

import bisect
import itertools
import random


class Popularity:
    """Entity ranks 0..size-1 drawn with weights 1/(rank+1)^skew.

    Skew 0 is uniform; 1.1 sends about half of the draws over 1,000 entities to the first ten.
    Building the table costs O(size) memory and time; a draw is a bisection, O(log size).
    """

    def __init__(self, size: int, skew: float) -> None:
        if size < 1:
            raise ValueError(f"key space of {size} entities: expected at least 1")
        if skew < 0:
            raise ValueError(f"skew is {skew}: expected 0 (uniform) or more")
        self.size = size
        weights = [1.0 / (rank + 1) ** skew for rank in range(size)]
        self._cumulative = list(itertools.accumulate(weights))

    def draw(self, rng: random.Random) -> int:
        point = rng.random() * self._cumulative[-1]
        return min(bisect.bisect_right(self._cumulative, point), self.size - 1)
