"""The key space draws every entity, uniformly without skew and mostly the first ones with it."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from loadtest.keyspace import Popularity


def test_without_skew_every_entity_is_drawn_about_equally() -> None:
    rng = random.Random(7)
    popularity = Popularity(10, 0.0)
    draws = Counter(popularity.draw(rng) for _ in range(20_000))
    assert set(draws) == set(range(10))
    assert max(draws.values()) / min(draws.values()) < 1.2


def test_with_skew_the_first_entities_are_hot() -> None:
    rng = random.Random(7)
    popularity = Popularity(1000, 1.1)
    draws = [popularity.draw(rng) for _ in range(20_000)]
    assert sum(1 for d in draws if d < 10) / len(draws) > 0.4
    assert all(0 <= d < 1000 for d in draws)


@pytest.mark.parametrize(("size", "skew"), [(0, 0.0), (10, -1.0)])
def test_an_empty_key_space_or_negative_skew_is_refused(size: int, skew: float) -> None:
    with pytest.raises(ValueError, match="expected"):
        Popularity(size, skew)
