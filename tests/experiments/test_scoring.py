"""Scoring logged requests with a task's eval: expected values from feedback, each request
scored once, a raising scorer recorded as an error. A real SQLite production log."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from honed.errors import ConfigError
from honed.experiments.scoring import example_for, needed_fields, score_requests
from honed.store import LogStore, open_store
from honed.store.experiments import ExperimentStore
from honed.task.config import load_task

TASK = ("name: t\nmodel: fake\ntracking: none\n"
        "prompt:\n  system: Classify.\n  user: '{text}'\n"
        "data:\n  train: data/train.jsonl\n  val: data/val.jsonl\n  test: data/test.jsonl\n"
        "evals:\n"
        "  - type: exact_match\n    name: acc\n    expected: '{label}'\n"
        "  - type: regex\n    name: lower\n    pattern: '^[a-z]+$'\n"
        "  - type: python\n    name: boom\n    function: 'checks.py:boom'\n")


@pytest.fixture
def store(tmp_path: Path) -> Iterator[LogStore]:
    with open_store(f"sqlite:///{tmp_path / 'log.sqlite'}") as opened:
        yield opened


def _log(store: LogStore, rid: str, output: str | None, *, label: str | None = None,
         correction: str | None = None) -> None:
    store.log_request({"id": rid, "prompt": "t", "version": 1, "inputs": {"text": rid},
                       "output": output, "error": None if output else "failed",
                       "arm": "control", "experiment": "exp"})
    if label is not None or correction is not None:
        store.add_feedback(rid, label=label, correction=correction)


def test_expected_values_come_from_feedback_and_nothing_is_scored_twice(
        store: LogStore, make_task: Callable[..., Path]) -> None:
    task = load_task(make_task(TASK))
    _log(store, "r1", "positive", label="positive")
    _log(store, "r2", "positive", correction="negative", label="positive")  # correction wins
    _log(store, "r3", "positive")  # no target yet: waits
    _log(store, "r4", None, label="positive")  # failed: never scored
    es = ExperimentStore.of(store)
    scores = score_requests(es, task, "acc", es.requests("exp"))
    assert {rid: s["score"] for rid, s in scores.items()} == {"r1": 1.0, "r2": 0.0}
    assert scores["r1"]["passed"] is True and scores["r1"]["error"] is None

    store.add_feedback("r3", label="neutral")  # now r3 can be scored; r1 and r2 stay as they are
    store.add_feedback("r1", label="negative")
    again = score_requests(es, task, "acc", es.requests("exp"))
    assert {rid: s["score"] for rid, s in again.items()} == {"r1": 1.0, "r2": 0.0, "r3": 0.0}
    assert again["r1"]["created"] == scores["r1"]["created"]
    assert es.add_scores([{"request_id": "r1", "eval": "acc", "score": 0.0,
                           "passed": False}]) == 0


def test_an_eval_without_expected_values_scores_every_output(
        store: LogStore, make_task: Callable[..., Path]) -> None:
    task = load_task(make_task(TASK))
    _log(store, "a", "positive")
    _log(store, "b", "Not Lower")
    es = ExperimentStore.of(store)
    scores = score_requests(es, task, "lower", es.requests("exp"))
    assert {rid: s["score"] for rid, s in scores.items()} == {"a": 1.0, "b": 0.0}


def test_a_raising_scorer_is_recorded_as_an_error_without_credentials(
        store: LogStore, make_task: Callable[..., Path], tmp_path: Path) -> None:
    (tmp_path / "checks.py").write_text(
        "def boom(output, example):\n"
        "    raise RuntimeError('kaput, key sk-live0123456789abcdefXYZ')\n", encoding="utf-8")
    task = load_task(make_task(TASK))
    _log(store, "a", "positive")
    es = ExperimentStore.of(store)
    [(rid, scored)] = score_requests(es, task, "boom", es.requests("exp")).items()
    assert rid == "a" and scored["score"] == 0.0 and not scored["passed"]
    assert "kaput" in scored["error"] and "sk-live0123456789abcdefXYZ" not in scored["error"]


def test_unknown_eval_names_the_choices(make_task: Callable[..., Path]) -> None:
    task = load_task(make_task(TASK))
    with pytest.raises(ConfigError, match="no eval named 'nope'") as caught:
        score_requests(None, task, "nope", [{"id": "x"}])
    assert "acc, lower, boom" in str(caught.value)


def test_needed_fields_and_examples(make_task: Callable[..., Path]) -> None:
    task = load_task(make_task(TASK))
    acc, lower = task.evals[0], task.evals[1]
    assert needed_fields(acc) == ["label"] and needed_fields(lower) == []
    row: dict[str, Any] = {"id": "r", "inputs": {"text": "hi"}, "feedback": []}
    assert example_for(row, ["label"]) is None
    assert example_for(row, []).fields == {"text": "hi"}  # type: ignore[union-attr]
    row["feedback"] = [{"label": "positive", "correction": None}]
    assert example_for(row, ["label"]).fields == {"text": "hi",  # type: ignore[union-attr]
                                                  "label": "positive"}
