"""The DSPy side: importing DSPy, the adapters and program (classes built once DSPy is imported),
the runtime the DSPy thread shares with honed, and honed's evals as a DSPy metric."""

from __future__ import annotations

import asyncio
import functools
import os
import re
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from honed.errors import BudgetExhausted, ConfigError
from honed.evals.base import EvalContext, EvalResult, Scorer, run_scorer, weighted_score
from honed.optimizers.dspy_backend.spec import ID_FIELD, _as_dict, _Spec, _text
from honed.providers.model_server import ModelServer
from honed.task.render import prompt_text
from honed.types import Example, content_hash

INSTALL = "pip install 'honed[dspy]'"


class _Stop(BaseException):
    """Unwinds DSPy when honed's budget is spent. A BaseException because DSPy's executors and
    optimizers catch ``Exception`` per example and would otherwise go on."""


def load_dspy(*, optuna: bool = False) -> Any:
    """Import DSPy (and optuna) or raise a ConfigError that says what to install."""
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # never fetch a cost map
    names = ("dspy", "optuna") if optuna else ("dspy",)
    for name in names:
        try:
            __import__(name)
        except ImportError:
            raise ConfigError(f"the DSPy optimizers need the optional package {name!r}",
                              field="--optimizer", fix=INSTALL) from None
    import dspy

    dspy.configure_cache(enable_disk_cache=False, enable_memory_cache=False)
    return dspy


# --- the DSPy side: adapter, program, metric (classes built once DSPy is imported) -----------
_HEADER = re.compile(r"^\s*\[\[ ## \w+ ## \]\].*$", re.MULTILINE)


@functools.cache
def _dspy_classes() -> tuple[type, type, type]:
    """``(HonedAdapter, HonedProgram, LenientChatAdapter)``, built once DSPy is imported."""
    return _honed_adapter(), _honed_program(), _lenient_chat_adapter()


def _lenient_chat_adapter() -> type:
    dspy = load_dspy()
    from dspy.utils.exceptions import AdapterParseError

    class LenientChatAdapter(dspy.ChatAdapter):
        """DSPy's chat format for the optimizer's own calls (MIPROv2's proposer and dataset
        summaries), salvaging replies a small model did not format: when one text field is
        missing, the text before any field header (else the whole reply) becomes it."""

        def __init__(self) -> None:
            super().__init__(use_json_adapter_fallback=False)

        def parse(self, signature: Any, completion: str) -> dict[str, Any]:
            try:
                return dict(super().parse(signature, completion))
            except AdapterParseError as exc:
                parsed = dict(exc.parsed_result or {})
                missing = [k for k in signature.output_fields if k not in parsed]
                if len(missing) != 1 or signature.output_fields[missing[0]].annotation is not str:
                    raise
                preamble = _HEADER.split(completion, maxsplit=1)[0].strip()
                parsed[missing[0]] = preamble or _HEADER.sub("", completion).strip()
                return parsed

    return LenientChatAdapter


def _honed_adapter() -> type:
    dspy = load_dspy()

    class HonedAdapter(dspy.Adapter):
        """Renders honed's messages; the whole reply is the output field."""

        def __init__(self, spec: _Spec) -> None:
            super().__init__()
            self.spec = spec

        def format(self, signature: Any, demos: list[Any], inputs: dict[str, Any]) -> Any:
            return [m.to_dict() for m in self.spec.messages(signature.instructions, demos,
                                                            inputs)]

        def parse(self, signature: Any, completion: str) -> dict[str, Any]:
            return {self.spec.output: completion}

        def _call_postprocess(self, processed_signature: Any, original_signature: Any,
                              outputs: list[Any], lm: Any, lm_kwargs: Any) -> list[dict[str, Any]]:
            texts = [o.get("text") if isinstance(o, dict) else o for o in outputs]
            return [{self.spec.output: t or ""} for t in texts]  # empty is an answer too

        def __deepcopy__(self, memo: dict[int, Any]) -> HonedAdapter:
            return self

    return HonedAdapter


def _honed_program() -> type:
    dspy = load_dspy()

    class HonedProgram(dspy.Module):
        def __init__(self, runtime: _Runtime, signature: Any, demos: list[Any]) -> None:
            super().__init__()
            self.runtime = runtime
            self.predict = dspy.Predict(signature)
            self.predict.demos = list(demos)

        def forward(self, **inputs: Any) -> Any:
            rt = self.runtime
            rt.guard()
            instructions, demos = self.predict.signature.instructions, list(self.predict.demos)
            with dspy.context(adapter=rt.adapter):
                try:
                    prediction = self.predict(**inputs)
                except Exception as exc:
                    rt.guard(exc)
                    raise
            prediction._honed_key = rt.register(instructions, demos)
            prediction._honed_prompt = prompt_text(tuple(
                rt.spec.messages(instructions, demos, inputs)))
            return prediction

    return HonedProgram


@dataclass(eq=False)
class _Runtime:
    """What the DSPy thread shares with honed: the loop, scorers, servers, stop flag, tracking."""

    spec: _Spec
    loop: asyncio.AbstractEventLoop
    scorers: Sequence[Scorer]
    examples: Mapping[str, Example]
    val_ids: frozenset[str]
    servers: Sequence[ModelServer]
    allowance: Callable[[], int | None]
    adapter: Any = None
    stopped: str | None = None
    programs: dict[str, tuple[str, list[Any]]] = field(default_factory=dict)
    val_scores: dict[str, dict[str, float]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)
    on_val: Callable[[str], None] | None = None  # called once per program scored on all of val

    def __deepcopy__(self, memo: dict[int, Any]) -> _Runtime:
        return self  # DSPy deep-copies programs; they all share one runtime

    def guard(self, cause: BaseException | None = None) -> None:
        """Raise ``_Stop`` once the budget is spent (or the search was cancelled)."""
        if self.stopped is None:
            self.stopped = next((s.exhausted for s in self.servers if s.exhausted), None)
        if self.stopped is not None:
            raise _Stop(self.stopped) from cause

    def register(self, instructions: str, demos: list[Any]) -> str:
        shown = [[self.spec.key(_as_dict(d)), _text(_as_dict(d).get(self.spec.output))]
                 for d in demos]
        key = content_hash([instructions, shown])
        with self.lock:
            self.programs.setdefault(key, (instructions, list(demos)))
        return key

    def score(self, gold: Any, prediction: Any) -> tuple[float, bool, str]:
        """honed's evals on one DSPy prediction (run on honed's loop); tracks val scores."""
        self.guard()
        example = self.examples[gold[ID_FIELD]]
        text = _text(prediction.get(self.spec.output))
        prompt = getattr(prediction, "_honed_prompt", "")
        future = asyncio.run_coroutine_threadsafe(self._score(example, text, prompt), self.loop)
        try:
            score, passed, feedback = future.result()
        except BudgetExhausted as exc:
            self.stopped = self.stopped or exc.limit
            raise _Stop(exc.limit) from None
        key = getattr(prediction, "_honed_key", None)
        if key is not None and example.id in self.val_ids:
            with self.lock:
                scores = self.val_scores.setdefault(key, {})
                complete = example.id not in scores and len(scores) == len(self.val_ids) - 1
                scores[example.id] = score
            if complete and self.on_val is not None:
                self.on_val(key)
        return score, passed, feedback

    async def _score(self, example: Example, text: str, prompt: str) -> tuple[float, bool, str]:
        left = self.allowance()
        if left is not None and left <= 0 and any(_calls_model(s) for s in self.scorers):
            raise BudgetExhausted("max_calls", "no calls left for an LLM judge")
        ctx = EvalContext(example, text, prompt_text=prompt)
        evals: dict[str, EvalResult] = {}
        for scorer in self.scorers:
            try:
                evals[scorer.name] = await run_scorer(scorer, ctx)
            except BudgetExhausted:
                raise
            except Exception as exc:  # DSPy sees a failure; honed's verification records it
                evals[scorer.name] = EvalResult(0.0, False, f"raised {type(exc).__name__}: {exc}")
        score = weighted_score(evals, {s.name: s.weight for s in self.scorers})
        lines = [f"{name}: {r.feedback or ('passed' if r.passed else 'failed')}"
                 for name, r in evals.items()]
        return score, all(r.passed for r in evals.values()), "\n".join(lines)

    def best_seen(self) -> tuple[str, list[Any], float] | None:
        """The DSPy candidate with the best mean over the whole val split, if any."""
        full = [(sum(s.values()) / len(s), key) for key, s in self.val_scores.items()
                if len(s) == len(self.val_ids)]
        if not full:
            return None
        mean, key = max(full, key=lambda pair: pair[0])  # ties: the first seen
        return (*self.programs[key], mean)

    def val_mean(self, instructions: str, demos: list[Any]) -> float | None:
        scores = self.val_scores.get(self.register(instructions, demos), {})
        return sum(scores.values()) / len(scores) if len(scores) == len(self.val_ids) else None


def _calls_model(scorer: Scorer) -> bool:
    return hasattr(scorer, "model") or hasattr(scorer, "client")


class _Metric:
    """honed's evals as a DSPy metric. GEPA gets ``Prediction(score, feedback)``; bootstrapping
    (``trace`` given) gets pass/fail; evaluation gets the score."""

    def __init__(self, runtime: _Runtime, prediction: Any = None) -> None:
        self.runtime, self.prediction = runtime, prediction

    def __call__(self, gold: Any, pred: Any, trace: Any = None, pred_name: Any = None,
                 pred_trace: Any = None) -> Any:
        score, passed, feedback = self.runtime.score(gold, pred)
        if self.prediction is not None:
            return self.prediction(score=score, feedback=feedback)
        return passed if trace is not None else score

    def __deepcopy__(self, memo: dict[int, Any]) -> _Metric:
        return self
