"""auto's schedule: which stages a budget pays for, and what a small budget still finds."""

from __future__ import annotations

from tests.optimizers.test_mutate import picky, rows

from honed.engine.budget import Limits
from honed.optimizers.auto import OFFLINE, SMALL, AutoSearch
from honed.optimizers.session import SearchOptions
from honed.optimizers.testing import run_search
from honed.providers.fake import FakeModel


def outcome(max_calls: int):
    import honed

    task = honed.Task(name="review_sentiment", model="fake",
                      prompt={"system": "Classify the review.", "user": "{text}"},
                      data={"train": rows(60), "val": rows(20, 100), "test": rows(30, 200)},
                      evals=[{"type": "exact_match", "expected": "{label}"}])
    options = SearchOptions(seed=0, limits=Limits(max_calls=max_calls), minibatch_size=6)
    return run_search(task, AutoSearch(), FakeModel(picky), options)


def test_a_small_budget_tries_the_wording_before_the_demos() -> None:
    assert SMALL[0][0] == "mutate" and SMALL[-1][0] == "select"
    assert [name for name, _ in OFFLINE] == ["fewshot", "bayes", "mutate", "select"]


def test_a_small_budget_still_finds_the_label_set() -> None:
    # 200 calls: 60 for the final test, 20 for the seed on val, less than 12 val evaluations
    # left for the search, so the small schedule runs; the scripted model is right only when
    # the prompt states the label set
    out = outcome(200)
    assert out.seed.score == 0.0
    assert "Possible labels:" in out.best.candidate.system and out.best.score > 0.6
