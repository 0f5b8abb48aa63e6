"""MutateSearch finds a known improvement on a scripted model, deterministically, in budget."""

from __future__ import annotations

from typing import Any

import pytest

import honed
from honed.engine.budget import Limits
from honed.errors import ConfigError
from honed.optimizers.base import Optimizer
from honed.optimizers.mutate import MutateSearch
from honed.optimizers.registry import build_optimizer
from honed.optimizers.session import SearchOptions
from honed.optimizers.testing import SearchOutcome, run_search
from honed.providers.base import Request
from honed.providers.fake import FakeModel, last_user

WORDS = {"positive": "great", "negative": "awful", "neutral": "blue"}


def rows(n: int, offset: int = 0) -> list[dict[str, str]]:
    labels = list(WORDS)
    return [{"text": f"{WORDS[labels[i % 3]]} thing number {offset + i}",
             "label": labels[i % 3]} for i in range(n)]


def truth(text: str) -> str:
    return next(label for label, word in WORDS.items() if word in text)


def picky(request: Request) -> str:
    """Right only with the label set stated; neutral also needs the output-format line."""
    prompt = "\n".join(m.content for m in request.messages)
    label = truth(last_user(request))
    if "Possible labels:" not in prompt:
        return f"I think it is {label}"
    if label == "neutral" and "Answer with only the label" not in prompt:
        return "It is neither good nor bad."
    return label


def run(optimizer: Optimizer, script: Any = picky, *, seed: int = 0,
        max_calls: int | None = None, minibatch: int = 6, n_train: int = 24) -> SearchOutcome:
    task = honed.Task(name="review_sentiment", model="fake",
                      prompt={"system": "Classify the review.", "user": "{text}"},
                      data={"train": rows(n_train), "val": rows(12, 100), "test": rows(3, 200)},
                      evals=[{"type": "exact_match", "expected": "{label}"}])
    options = SearchOptions(seed=seed, limits=Limits(max_calls=max_calls),
                            minibatch_size=minibatch)
    return run_search(task, optimizer, FakeModel(script), options)


def test_finds_the_label_set_and_format_lines() -> None:
    out = run(MutateSearch())
    assert out.seed.score == 0.0
    assert out.best.score == 1.0
    assert "Possible labels:" in out.best.candidate.system
    assert "Answer with only the label" in out.best.candidate.system
    assert "{text}" in out.best.candidate.user


def test_records_every_evaluation_with_a_note() -> None:
    out = run(MutateSearch())
    phases = {s["phase"] for s in out.steps}
    assert {"seed", "screen", "validate"} <= phases
    assert all(s["note"] for s in out.steps if s["phase"] != "seed")
    notes = [s["note"] for s in out.steps if s["phase"] == "validate"]
    assert any(n.startswith("state the label set") for n in notes)
    # val is spent only on children that screened at least as well as their parent
    screens = [s for s in out.steps if s["phase"] == "screen"]
    assert len([s for s in out.steps if s["phase"] == "validate"]) < len(screens)


def test_same_seed_same_result() -> None:
    first, second = run(MutateSearch(), seed=3), run(MutateSearch(), seed=3)
    assert first.best.candidate.id == second.best.candidate.id
    assert first.best.score == second.best.score
    assert [s["candidate_id"] for s in first.steps] == [s["candidate_id"] for s in second.steps]


def test_respects_the_budget() -> None:
    out = run(MutateSearch(), max_calls=80)
    assert out.rollouts <= 80
    assert out.best.score >= out.seed.score


def test_a_budget_too_small_keeps_the_seed() -> None:
    out = run(MutateSearch(), max_calls=14)  # the seed's val evaluation takes 12
    assert out.best.candidate.id == out.seed.candidate.id
    assert out.rollouts <= 14


def test_a_small_train_set_is_not_paid_for_twice() -> None:
    out = run(MutateSearch(), n_train=6, minibatch=16)  # every minibatch is all of train
    screened = [s["candidate_id"] for s in out.steps if s["split"] == "train"]
    assert len(screened) == len(set(screened))
    assert out.best.score == 1.0


def test_stops_when_nothing_helps() -> None:
    out = run(MutateSearch(patience=1, max_rounds=5), script="nope")
    assert out.best.candidate.id == out.seed.candidate.id
    assert max(s["iteration"] for s in out.steps) == 1


def test_registry_builds_it_and_rejects_bad_params() -> None:
    assert build_optimizer("mutate").name == "mutate"
    with pytest.raises(ConfigError):
        MutateSearch(beam_width=0)
