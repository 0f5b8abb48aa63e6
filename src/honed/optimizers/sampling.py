"""Minibatches that keep a labelled split's label mix.

A small random minibatch of a task with labels draws its labels by chance: 16 of 260 banking
messages can hold five of one intent or none. A prompt that leans towards one label then scores
on the draw rather than on its merit, and screening candidates against it on that minibatch
compares luck. Proportional stratified sampling gives each label its share of the minibatch
(rounded by largest remainder, ties drawn at random) and draws within each label at random, so
the mix matches the split's and only which examples stand for each label is left to chance.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Hashable, Sequence
from typing import TypeVar

T = TypeVar("T")


def proportional_sample(items: Sequence[T], size: int, key: Callable[[T], Hashable],
                        rng: random.Random) -> list[int]:
    """Sorted indices of ``size`` items, each group (by ``key``) getting its share of them."""
    groups: dict[Hashable, list[int]] = {}
    for index, item in enumerate(items):
        groups.setdefault(key(item), []).append(index)
    size = min(size, len(items))
    quota = {g: size * len(members) / len(items) for g, members in groups.items()}
    counts = {g: int(q) for g, q in quota.items()}
    ties = {g: rng.random() for g in groups}
    order = sorted(groups, key=lambda g: (counts[g] - quota[g], ties[g]))
    for group in order[:size - sum(counts.values())]:
        counts[group] += 1
    return sorted(i for g, members in groups.items() for i in rng.sample(members, counts[g]))
