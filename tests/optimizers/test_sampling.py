"""Proportional stratified minibatches: each label gets its share, the rest is chance."""

from __future__ import annotations

import asyncio
import random
from collections import Counter

import honed
from honed.optimizers.sampling import proportional_sample
from honed.optimizers.session import SearchOptions, open_search
from honed.providers.fake import FakeModel
from honed.task.config import load_splits

ITEMS = ["a"] * 13 + ["b"] * 14 + ["c"] * 2 + ["d"] * 8  # 37 items, shares .35/.38/.05/.22


def counts(indices: list[int]) -> dict[str, int]:
    return dict(Counter(ITEMS[i] for i in indices))


def test_each_label_gets_its_share_rounded_by_largest_remainder() -> None:
    # quotas for 16: a 5.62, b 6.05, c 0.86, d 3.46 -> floors 5/6/0/3, the two largest
    # remainders (c, a) get the two left
    for seed in range(5):
        chosen = proportional_sample(ITEMS, 16, str, random.Random(seed))
        assert counts(chosen) == {"a": 6, "b": 6, "c": 1, "d": 3}
        assert chosen == sorted(set(chosen))


def test_the_examples_standing_for_a_label_are_drawn_at_random_and_reproducibly() -> None:
    draws = {tuple(proportional_sample(ITEMS, 16, str, random.Random(seed))) for seed in range(5)}
    assert len(draws) > 1
    again = proportional_sample(ITEMS, 16, str, random.Random(3))
    assert again == proportional_sample(ITEMS, 16, str, random.Random(3))


def test_asking_for_more_than_there_is_takes_everything() -> None:
    assert proportional_sample(ITEMS, 100, str, random.Random(0)) == list(range(len(ITEMS)))
    assert proportional_sample(ITEMS, 0, str, random.Random(0)) == []


def test_a_labelled_tasks_minibatches_keep_the_splits_label_mix() -> None:
    train = [{"text": f"item {i}", "label": label} for i, label in enumerate(ITEMS)]
    task = honed.Task(name="mix", model="fake", prompt={"system": "Answer.", "user": "{text}"},
                      data={"train": train, "val": train[:4], "test": train[:2]},
                      evals=[{"type": "exact_match", "expected": "{label}"}])

    async def go() -> list[dict[str, int]]:
        async with open_search(task, load_splits(task), SearchOptions(seed=1),
                               model=FakeModel(lambda request: "a")) as ctx:
            return [dict(Counter(ex.fields["label"] for ex in ctx.minibatch("train", 16)))
                    for _ in range(3)]

    assert asyncio.run(go()) == [{"a": 6, "b": 6, "c": 1, "d": 3}] * 3
