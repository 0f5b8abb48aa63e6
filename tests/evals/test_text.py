"""Graded text metrics: SQuAD F1, ROUGE-L and sentence BLEU."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from honed.evals.base import EvalContext, EvalResult
from honed.evals.text import TextMetricScorer, sentence_bleu, squad_normalize, token_f1
from honed.task.eval_specs import TextMetric
from honed.types import Example


def score(kind: str, output: str, label: str, **spec: Any) -> EvalResult:
    scorer = TextMetricScorer(TextMetric(type=kind, **spec))  # type: ignore[arg-type]
    return asyncio.run(scorer.score(EvalContext(Example("e", {"label": label}), output)))


def test_squad_normalize() -> None:
    assert squad_normalize("The  Eiffel Tower!") == "eiffel tower"


def test_token_f1_values() -> None:
    assert token_f1("the Eiffel Tower", "Eiffel tower.") == 1.0
    assert token_f1("Paris", "Lyon") == 0.0
    # pred {eiffel, tower, paris} vs gold {eiffel, tower}: p=2/3, r=1 -> f1=0.8
    assert token_f1("Eiffel tower Paris", "the Eiffel Tower") == pytest.approx(0.8)
    assert token_f1("", "") == 1.0
    assert token_f1("a", "the") == 1.0  # both empty after dropping articles


def test_f1_scorer_is_graded_with_threshold() -> None:
    result = score("f1", "Eiffel tower Paris", "the Eiffel Tower", threshold=0.9)
    assert result.score == pytest.approx(0.8) and not result.passed
    assert result.category == "low_overlap"
    assert "f1 0.80 < threshold 0.90" in result.feedback
    assert "extra words: paris" in result.feedback
    assert score("f1", "Eiffel tower Paris", "the Eiffel Tower", threshold=0.8).passed


def test_f1_feedback_lists_missing_words() -> None:
    result = score("f1", "red", "big red dog", threshold=0.9)
    assert "missing words: big, dog" in result.feedback


def test_empty_output_is_its_own_category() -> None:
    result = score("f1", "  ", "something")
    assert result.score == 0.0 and result.category == "empty"


def test_rouge_l() -> None:
    assert score("rouge_l", "the cat sat on the mat", "the cat sat on the mat").score == 1.0
    partial = score("rouge_l", "the cat sat", "the cat sat on the mat")
    # LCS 3, p=1, r=0.5 -> f=2/3
    assert partial.score == pytest.approx(2 / 3)
    assert partial.passed  # default threshold 0.5


def test_rouge_l_handles_non_ascii_text() -> None:
    assert score("rouge_l", "café crème brûlée", "café crème brûlée").score == 1.0


def test_bleu() -> None:
    text = "the quick brown fox jumps over the lazy dog"
    assert sentence_bleu(text, text) == pytest.approx(1.0)
    result = score("bleu", "a completely different sentence here", text)
    assert result.score < 0.1 and not result.passed and result.category == "low_overlap"
    mid = score("bleu", "the quick brown fox jumps over a lazy dog", text)
    assert 0.3 < mid.score < 1.0
