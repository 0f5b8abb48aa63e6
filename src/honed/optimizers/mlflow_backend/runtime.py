"""What ``mlflow.genai.optimize_prompts`` runs on: a private MLflow store, the prompt's components
as registered MLflow prompts, a ``predict_fn`` that evaluates through honed and a scorer that
hands MLflow honed's score and eval feedback."""

from __future__ import annotations

import contextlib
import importlib.util
import logging
import os
import tempfile
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from honed.engine.results import ExampleResult
from honed.errors import ConfigError
from honed.optimizers.dspy_backend.spec import _escape_unknown
from honed.optimizers.gepa_backend.adapter import _Bridge, feedback_of
from honed.task.template import from_double_brace, render, to_double_brace, variables
from honed.tracking.mlflow.store import OFFLINE_ENV
from honed.types import Candidate, Example

INSTALL = "pip install 'honed[mlflow,dspy]'"  # mlflow; gepa and litellm come with the dspy extra
ROW = "honed_row"  # the input that tells predict_fn which example it runs on
QUIET_LOGGERS = ("mlflow", "alembic", "gepa", "LiteLLM", "litellm", "httpx")


def load_mlflow(*, gepa: bool) -> Any:
    """Import MLflow with the offline defaults in place; ConfigError saying what to install."""
    for key, value in OFFLINE_ENV.items():
        os.environ.setdefault(key, value)
    needed = ("mlflow", "litellm", "gepa") if gepa else ("mlflow", "litellm")
    for name in needed:
        if importlib.util.find_spec(name) is None:
            raise ConfigError(f"the mlflow optimizer needs the optional package {name!r}",
                              field="--optimizer", fix=INSTALL)
    import mlflow
    import mlflow.genai

    return mlflow


@contextlib.contextmanager
def private_store(mlflow: Any) -> Iterator[str]:
    """A fresh SQLite store in a temporary folder, MLflow's global tracking and registry URI
    for the block (``optimize_prompts`` loads and registers prompts through them), restored
    after; the user's own store never sees the candidates."""
    saved = {k: os.environ.get(k) for k in ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI")}
    with tempfile.TemporaryDirectory(prefix="honed-mlflow-") as folder:
        uri = f"sqlite:///{Path(folder, 'mlflow.db')}"
        mlflow.set_tracking_uri(uri)
        mlflow.set_registry_uri(uri)
        try:
            yield uri
        finally:
            mlflow.set_tracking_uri(saved["MLFLOW_TRACKING_URI"])
            mlflow.set_registry_uri(saved["MLFLOW_REGISTRY_URI"])
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value


@contextlib.contextmanager
def quiet_loggers() -> Iterator[None]:
    """MLflow, alembic, GEPA and litellm log to stderr through handlers of their own."""
    loggers = [logging.getLogger(name) for name in QUIET_LOGGERS]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.CRITICAL + 1)
    try:
        yield
    finally:
        for lg, level in zip(loggers, levels, strict=True):
            lg.setLevel(level)


@dataclass(frozen=True)
class Templates:
    """The prompt's components as MLflow prompt templates (``{{var}}``) and back."""

    seed: Candidate
    names: tuple[str, ...]
    inputs: tuple[str, ...]

    @classmethod
    def of(cls, seed: Candidate, names: Sequence[str]) -> Templates:
        inputs = tuple(dict.fromkeys(v for text in seed.components.values()
                                     for v in variables(text)))
        return cls(seed, tuple(names), inputs)

    def mlflow_seed(self) -> dict[str, str]:
        return {name: to_double_brace(self.seed.components[name]) for name in self.names}

    def candidate(self, texts: Mapping[str, str]) -> Candidate:
        """MLflow's templates as a honed candidate: ``{{var}}`` that names no input stays
        literal text; components MLflow did not return keep the seed's text and its demos."""
        parts = {name: _escape_unknown(from_double_brace(texts[name]), set(self.inputs))
                 for name in self.names if name in texts}
        return Candidate({**self.seed.components, **parts}, self.seed.demos)


@dataclass(eq=False)
class Rows:
    """The examples MLflow sees: ``{"inputs": ..., "expectations": ...}`` records whose
    ``honed_row`` input names the split and index, so ``predict_fn`` scores the right example."""

    inputs: tuple[str, ...]
    target: str | None
    splits: Mapping[str, Sequence[Example]]

    def records(self, split: str) -> list[dict[str, Any]]:
        out = []
        for i, ex in enumerate(self.splits[split]):
            inputs = {name: "" if ex.get(name) is None else str(ex.get(name))
                      for name in self.inputs}
            out.append({"inputs": {**inputs, ROW: f"{split}/{i}"},
                        "expectations": {"expected_response": self._expected(ex)}})
        return out

    def _expected(self, example: Example) -> str:
        try:
            return render(self.target, example.fields) if self.target else ""
        except KeyError:
            return ""

    def example(self, row: str) -> tuple[str, Example]:
        split, _, index = row.partition("/")
        return split, self.splits[split][int(index)]


@dataclass(eq=False)
class Predictor:
    """MLflow's ``predict_fn`` and scorer over honed: the prediction reads the candidate's
    templates from the registered prompts (MLflow swaps in the candidate's), scores the example
    with ``ctx.evaluate`` and leaves the result for the scorer, which runs next in the same
    thread. ``reserve`` calls stay for honed's final evaluation on val."""

    bridge: _Bridge
    templates: Templates
    rows: Rows
    prompts: Mapping[str, Any]  # component name -> MLflow PromptVersion
    reserve: int
    origin: str
    last: threading.local = field(default_factory=threading.local)
    val: dict[str, dict[str, ExampleResult]] = field(default_factory=dict)  # by candidate id
    lock: threading.Lock = field(default_factory=threading.Lock)

    def predict(self, **inputs: Any) -> str:
        self.last.result = None
        split, example = self.rows.example(str(inputs[ROW]))
        candidate = self.templates.candidate(
            {name: prompt.template for name, prompt in self.prompts.items()})
        ctx = self.bridge.ctx
        left, cost = ctx.remaining(), ctx.calls_per_example()
        if left is not None and left - self.reserve < cost:
            self.bridge.stopped = self.bridge.stopped or "max_calls"
        scored = self.bridge.call(ctx.evaluate(candidate, split, [example],
                                               origin=self.origin))
        result = self.last.result = scored.results[0]
        if split == "val":
            with self.lock:
                self.val.setdefault(candidate.id, {})[example.id] = result
        return result.output

    def val_results(self, candidate: Candidate) -> list[ExampleResult] | None:
        """The candidate's results on every val example, in val's order, if it has them all."""
        found = self.val.get(candidate.id, {})
        examples = self.rows.splits["val"]
        if any(ex.id not in found for ex in examples):
            return None
        return [found[ex.id] for ex in examples]

    def scorer(self, mlflow: Any) -> Any:
        from mlflow.entities import Feedback
        from mlflow.genai.scorers import scorer

        def honed(outputs: Any) -> Any:
            result: ExampleResult | None = getattr(self.last, "result", None)
            if result is None:
                return Feedback(name="honed", value=0.0, rationale="the prediction failed")
            value = result.value if result.value is not None else 0.0
            return Feedback(name="honed", value=value, rationale=feedback_of(result))

        return scorer(honed, name="honed", timeout=0)  # 0: in the caller's thread


def stop_when(bridge: _Bridge, margin: int, reserve: int,
              servers: Sequence[Any]) -> Callable[[Any], bool]:
    """A GEPA stop callback: stop once the budget cannot pay for another iteration."""

    def stop(state: Any) -> bool:
        left = bridge.ctx.remaining()
        if any(s.exhausted for s in servers):
            bridge.stopped = bridge.stopped or "max_calls"
        return bridge.stopped is not None or (left is not None and left - reserve < margin)

    return stop
