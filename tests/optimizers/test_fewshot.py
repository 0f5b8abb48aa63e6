"""FewShotSearch: demo-set proposals, and a search that finds the demos a scripted model needs."""

from __future__ import annotations

import random
from typing import Any

import pytest

import honed
from honed.engine.budget import Limits
from honed.errors import ConfigError
from honed.optimizers.base import Optimizer
from honed.optimizers.fewshot import FewShotSearch, propose_demo_sets, stratified
from honed.optimizers.registry import build_optimizer
from honed.optimizers.session import SearchOptions
from honed.optimizers.testing import SearchOutcome, run_search
from honed.providers.base import Request
from honed.providers.fake import FakeModel, last_user
from honed.task.config import load_splits

WORDS = {"positive": "great", "negative": "awful", "neutral": "blue"}


def rows(n: int, offset: int = 0) -> list[dict[str, str]]:
    labels = list(WORDS)
    return [{"text": f"{WORDS[labels[i % 3]]} thing number {offset + i}",
             "label": labels[i % 3]} for i in range(n)]


def make_task() -> honed.Task:
    return honed.Task(name="review_sentiment", model="fake",
                      prompt={"system": "Classify the review.", "user": "{text}"},
                      data={"train": rows(24), "val": rows(12, 100), "test": rows(3, 200)},
                      evals=[{"type": "exact_match", "expected": "{label}"}],
                      output={"choices": ["positive", "negative", "neutral"]})


def truth(text: str) -> str:
    return next(label for label, word in WORDS.items() if word in text)


def needs_demo_of_its_label(request: Request) -> str:
    """Right only when a demo answer shows the example's own label; otherwise says positive."""
    label = truth(last_user(request))
    shown = {m.content for m in request.messages if m.role == "assistant"}
    return label if label in shown else "positive"


def run(optimizer: Optimizer, script: Any = needs_demo_of_its_label, *, seed: int = 0,
        max_calls: int | None = None, minibatch: int = 8) -> SearchOutcome:
    task = make_task()
    options = SearchOptions(seed=seed, limits=Limits(max_calls=max_calls),
                            minibatch_size=minibatch)
    return run_search(task, optimizer, FakeModel(script), options)


def test_stratified_covers_every_label_first() -> None:
    task = make_task()
    train = load_splits(task).train
    labels = {ex.id: ex.fields["label"] for ex in train}
    ids = stratified(task, train, 3, random.Random(0), ("positive", "negative", "neutral"))
    assert [labels[i] for i in ids] == ["positive", "negative", "neutral"]


def test_proposals_are_distinct_deterministic_and_bounded() -> None:
    task = make_task()
    train = load_splits(task).train

    def propose(seed: int) -> list[Any]:
        return propose_demo_sets(task, train, random.Random(seed), max_demos=4, count=10,
                                 bootstrapped=train[:5], exclude=[()])

    sets = propose(1)
    assert len(sets) == 10 and len({s.ids for s in sets}) == 10
    assert all(1 <= len(s.ids) <= 4 for s in sets)
    assert {s.strategy for s in sets} >= {"stratified", "bootstrapped", "random", "reordered"}
    boot = {ex.id for ex in train[:5]}
    assert all(set(s.ids) <= boot for s in sets if s.strategy == "bootstrapped")
    assert [s.ids for s in propose(1)] == [s.ids for s in sets]


def test_finds_demos_for_every_label() -> None:
    out = run(FewShotSearch())
    assert out.seed.score == pytest.approx(1 / 3)
    assert out.best.score == 1.0
    assert len(out.best.candidate.demos) >= 3
    assert out.best.candidate.components == out.seed.candidate.components


def test_screens_without_its_own_demos_and_records_notes() -> None:
    asked_own_demo: list[str] = []

    def script(request: Request) -> str:
        shown = {m.content for m in request.messages[:-1] if m.role == "user"}
        if last_user(request) in shown:
            asked_own_demo.append(last_user(request))
        return needs_demo_of_its_label(request)

    out = run(FewShotSearch(), script)
    phases = [s["phase"] for s in out.steps]
    assert phases[:2] == ["seed", "bootstrap"] and "validate" in phases
    screens = [s for s in out.steps if s["phase"] == "screen"]
    assert screens and all("demos" in s["note"] for s in screens)
    assert any(s["n"] < 8 for s in screens) and not asked_own_demo


def test_same_seed_same_result() -> None:
    first, second = run(FewShotSearch(), seed=5), run(FewShotSearch(), seed=5)
    assert first.best.candidate.id == second.best.candidate.id
    assert first.best.score == second.best.score


def test_respects_the_budget() -> None:
    out = run(FewShotSearch(num_candidates=20), max_calls=60)
    assert out.rollouts <= 60


def test_a_budget_too_small_keeps_the_seed() -> None:
    out = run(FewShotSearch(), max_calls=20)  # seed val takes 12; no room for another val
    assert out.best.candidate.id == out.seed.candidate.id
    assert out.rollouts <= 20


def test_tight_budget_validates_one_stratified_set() -> None:
    out = run(FewShotSearch(), max_calls=24)  # room for one val evaluation, not for screening
    assert [s["phase"] for s in out.steps] == ["seed", "validate"]
    assert out.best.score == 1.0


def test_registry_builds_it_and_rejects_bad_params() -> None:
    assert build_optimizer("fewshot").name == "fewshot"
    with pytest.raises(ConfigError):
        FewShotSearch(max_demos=0)
