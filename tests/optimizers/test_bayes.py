"""BayesSearch: TPE over instructions x demo sets finds the combination a scripted model needs."""

from __future__ import annotations

from typing import Any

import pytest

import honed
from honed.engine.budget import Limits
from honed.errors import ConfigError
from honed.optimizers.base import Optimizer
from honed.optimizers.bayes import MINIBATCH_SPLIT, BayesSearch
from honed.optimizers.registry import build_optimizer
from honed.optimizers.session import SearchOptions
from honed.optimizers.testing import SearchOutcome, run_search
from honed.providers.base import Request
from honed.providers.fake import FakeModel, last_user

WORDS = {"positive": "great", "negative": "awful", "neutral": "blue"}
REWRITE = "Decide if the review is positive, negative or neutral. Reply with the label only."


def rows(n: int, offset: int = 0) -> list[dict[str, str]]:
    labels = list(WORDS)
    return [{"text": f"{WORDS[labels[i % 3]]} thing number {offset + i}",
             "label": labels[i % 3]} for i in range(n)]


def truth(text: str) -> str:
    return next(label for label, word in WORDS.items() if word in text)


def labels_and_demos(request: Request) -> str:
    """Right only with the label set stated in the system prompt AND at least one demo."""
    system = " ".join(m.content for m in request.messages if m.role == "system")
    has_demo = any(m.role == "assistant" for m in request.messages)
    label = truth(last_user(request))
    return label if "Possible labels:" in system and has_demo else "no idea"


def rewrite_only(request: Request) -> str:
    """Right only with the reflection model's rewrite as the system prompt."""
    system = " ".join(m.content for m in request.messages if m.role == "system")
    return truth(last_user(request)) if system == REWRITE else "no idea"


def run(optimizer: Optimizer, script: Any = labels_and_demos, *, seed: int = 0,
        max_calls: int | None = None, reflection: Any = None) -> SearchOutcome:
    task = honed.Task(name="review_sentiment", model="fake",
                      prompt={"system": "Classify the review.", "user": "{text}"},
                      data={"train": rows(24), "val": rows(24, 100), "test": rows(3, 200)},
                      evals=[{"type": "exact_match", "expected": "{label}"}])
    options = SearchOptions(seed=seed, limits=Limits(max_calls=max_calls), minibatch_size=6)
    return run_search(task, optimizer, FakeModel(script), options, reflection=reflection)


def test_finds_the_instruction_and_demos_together() -> None:
    out = run(BayesSearch(n_trials=20))
    assert out.seed.score == 0.0
    assert out.best.score == 1.0
    assert "Possible labels:" in out.best.candidate.system and out.best.candidate.demos


def test_trials_use_val_minibatches_and_validate_every_k() -> None:
    out = run(BayesSearch(n_trials=10, full_eval_every=5))
    trials = [s for s in out.steps if s["phase"] == "trial"]
    validates = [s for s in out.steps if s["phase"] == "validate"]
    assert len(trials) == 10 and all(s["split"] == MINIBATCH_SPLIT for s in trials)
    assert all(s["n"] == 6 and s["note"] for s in trials)
    assert 1 <= len(validates) <= 2 and all(s["split"] == "val" for s in validates)
    assert all("mean minibatch" in s["note"] for s in validates)


def test_same_seed_same_result() -> None:
    first, second = run(BayesSearch(n_trials=12), seed=7), run(BayesSearch(n_trials=12), seed=7)
    assert first.best.candidate.id == second.best.candidate.id
    assert first.best.score == second.best.score
    assert [s["candidate_id"] for s in first.steps] == [s["candidate_id"] for s in second.steps]


def test_default_trials_fit_the_budget() -> None:
    out = run(BayesSearch(), max_calls=150)
    assert out.rollouts <= 150
    assert any(s["phase"] == "validate" for s in out.steps)


def test_a_budget_too_small_keeps_the_seed() -> None:
    out = run(BayesSearch(), max_calls=30)  # the seed's val evaluation takes 24
    assert out.best.candidate.id == out.seed.candidate.id
    assert out.rollouts <= 30


def test_reflection_rewrites_join_the_instructions() -> None:
    out = run(BayesSearch(n_trials=30, num_rewrites=2), script=rewrite_only,
              reflection=FakeModel(f"```\n{REWRITE}\n```"))
    assert out.best.candidate.system == REWRITE
    assert out.best.score == 1.0


def test_registry_builds_it_and_rejects_bad_params() -> None:
    assert build_optimizer("bayes").name == "bayes"
    with pytest.raises(ConfigError):
        BayesSearch(full_eval_every=0)
