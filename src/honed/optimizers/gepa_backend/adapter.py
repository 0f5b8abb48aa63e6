"""honed behind GEPA's adapter protocol: evaluations through the search context, eval feedback
as GEPA's reflective dataset, and the reflection model as GEPA's ``reflection_lm``.

GEPA is synchronous and runs in a worker thread; every evaluation and every reflection call is a
coroutine run on honed's event loop (``_Bridge.call``), so it goes through honed's engine: cached,
retried and counted against the run's one budget. A ``BudgetExhausted`` there becomes ``_Stop``,
a ``BaseException`` that GEPA's ``except Exception`` handlers let through, which unwinds GEPA.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from honed.engine.results import ExampleResult
from honed.errors import BudgetExhausted
from honed.optimizers.base import Scored, SearchContext
from honed.optimizers.dspy_backend.spec import _escape_unknown
from honed.providers.base import Request
from honed.providers.model_server import text_of
from honed.task.template import variables
from honed.types import Candidate, Example, Message

T = TypeVar("T")
ORIGIN = "gepa"
PROMPT_TOKENS = 2048  # a reflection model's reply: GEPA asks for a whole new instruction
SELF_PROMPT_TOKENS = 256  # the same when the task model reflects for itself (a small model
#                           that rambles would spend minutes per proposal)
TEMPERATURE = 0.7


class _Stop(BaseException):
    """Unwinds GEPA once honed's budget is spent (or the search was cancelled)."""


@dataclass(frozen=True)
class Row:
    """GEPA's data instance: a honed example and the split it comes from (the same row may be
    in train and val under one id)."""

    split: str
    example: Example


@dataclass(eq=False)
class _Bridge:
    """What GEPA's thread shares with honed: the context, its event loop and the stop flag."""

    ctx: SearchContext
    loop: asyncio.AbstractEventLoop
    stopped: str | None = None

    def call(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run ``coro`` on honed's loop and wait for it; ``_Stop`` once the budget is spent."""
        if self.stopped is not None:
            coro.close()
            raise _Stop(self.stopped)
        future = asyncio.run_coroutine_threadsafe(coro, self.loop)
        try:
            return future.result()
        except BudgetExhausted as exc:
            self.stopped = self.stopped or exc.limit
            raise _Stop(exc.limit) from None


@dataclass(frozen=True)
class Texts:
    """How GEPA's candidates (component name -> text) map onto honed candidates."""

    seed: Candidate
    names: tuple[str, ...]  # the components GEPA evolves
    inputs: tuple[str, ...]  # the seed's placeholders: the fields every candidate must show

    @classmethod
    def of(cls, seed: Candidate, names: Sequence[str]) -> Texts:
        inputs = tuple(dict.fromkeys(v for text in seed.components.values()
                                     for v in variables(text)))
        return cls(seed, tuple(names), inputs)

    def gepa_seed(self) -> dict[str, str]:
        return {name: self.seed.components.get(name, "") for name in self.names}

    def candidate(self, texts: Mapping[str, str]) -> Candidate:
        """A honed candidate: a ``{word}`` that names no input stays literal text (else honed
        would fill it from the example, e.g. with the reference answer); demos are the seed's."""
        parts = {name: _escape_unknown(texts[name], set(self.inputs))
                 for name in self.names if name in texts}
        return Candidate({**self.seed.components, **parts}, self.seed.demos)

    def missing(self, candidate: Candidate) -> list[str]:
        """The seed's placeholders that no component of ``candidate`` shows any more."""
        shown = {v for text in candidate.components.values() for v in variables(text)}
        return [name for name in self.inputs if name not in shown]


def missing_feedback(missing: Sequence[str]) -> str:
    names = ", ".join("{" + name + "}" for name in missing)
    return (f"The prompt lost the placeholder(s) {names}: the model would never see the input, "
            f"so it was not run. Keep every placeholder of the original prompt ({names}) "
            "exactly as written.")


@dataclass(eq=False)
class HonedAdapter:
    """GEPA's adapter over honed's evaluations. ``scored`` keeps each candidate's evaluation on
    all of val (honed's own measurement, by candidate id)."""

    bridge: _Bridge
    texts: Texts
    scorer_names: tuple[str, ...]
    scored: dict[str, Scored] = field(default_factory=dict)
    propose_new_texts: Any = None  # GEPA proposes with its reflection LM

    def evaluate(self, batch: list[Row], candidate: dict[str, str],
                 capture_traces: bool = False) -> Any:
        from gepa import EvaluationBatch

        honed = self.texts.candidate(candidate)
        missing = self.texts.missing(honed)
        if missing:
            feedback = missing_feedback(missing)
            results = [ExampleResult(row.example.id, score=0.0,
                                     error=feedback, error_kind="prompt") for row in batch]
        else:
            results = self._results(honed, batch)
        return EvaluationBatch(
            outputs=[r.output for r in results],
            scores=[_value(r) for r in results],
            trajectories=([self._trajectory(row.example, r) for row, r in zip(
                batch, results, strict=True)] if capture_traces else None),
            objective_scores=[self._objectives(r) for r in results] if self.scorer_names
            else None)

    def _results(self, candidate: Candidate, batch: Sequence[Row]) -> list[ExampleResult]:
        """honed's results for ``batch``, in its order (a row given twice is scored once)."""
        split = batch[0].split if batch else "train"
        unique = list({row.example.id: row.example for row in batch}.values())
        ctx = self.bridge.ctx
        scored = self.bridge.call(ctx.evaluate(candidate, split, unique, origin=ORIGIN))
        if split == "val" and {ex.id for ex in unique} == {ex.id for ex in ctx.examples("val")}:
            self.scored[candidate.id] = scored
        by_id = {r.example_id: r for r in scored.results}
        return [by_id[row.example.id] for row in batch]

    def _objectives(self, result: ExampleResult) -> dict[str, float]:
        return {name: (result.evals[name].score if name in result.evals else 0.0)
                for name in self.scorer_names}

    def _trajectory(self, example: Example, result: ExampleResult) -> dict[str, Any]:
        """One record of GEPA's reflective dataset: inputs, the reply, honed's eval feedback."""
        return {"Inputs": {name: str(example.get(name, "")) for name in self.texts.inputs},
                "Generated Outputs": result.output,
                "Feedback": feedback_of(result)}

    def make_reflective_dataset(self, candidate: dict[str, str], eval_batch: Any,
                                components_to_update: list[str],
                                ) -> dict[str, list[dict[str, Any]]]:
        records = list(eval_batch.trajectories or ())
        return {name: records for name in components_to_update}


def _value(result: ExampleResult) -> float:
    return result.value if result.value is not None else 0.0


def feedback_of(result: ExampleResult) -> str:
    """Each eval's feedback (else passed/failed), or the error that stopped the example."""
    lines = [f"{name}: {r.feedback or ('passed' if r.passed else 'failed')}"
             for name, r in result.evals.items()]
    if result.error:
        lines.append(f"error: {result.error}")
    return "\n".join(lines) or f"score {_value(result):.2f}"


class Reflector:
    """GEPA's ``reflection_lm``: the run's reflection model through ``ctx.reflect``, else the task
    model itself (``proposal_model``); both within the budget and counted as proposer calls.
    Requests carry seeds derived from the run's seed, so answers are cached and a seed gives
    one run."""

    def __init__(self, bridge: _Bridge) -> None:
        self.bridge = bridge
        self.calls = 0

    def __call__(self, prompt: str | list[dict[str, Any]]) -> str:
        if isinstance(prompt, str):
            messages = [Message("user", prompt)]
        else:
            messages = [Message(m.get("role", "user"), text_of(m.get("content")))
                        for m in prompt]
        return self.bridge.call(self._ask(messages))

    async def _ask(self, messages: list[Message]) -> str:
        ctx = self.bridge.ctx
        if ctx.reflection is not None:
            return await ctx.reflect(messages, temperature=TEMPERATURE, max_tokens=PROMPT_TOKENS)
        self.calls += 1
        request = Request(tuple(messages), TEMPERATURE, SELF_PROMPT_TOKENS,
                          seed=ctx.seed * 100_003 + self.calls)
        completion = await ctx.service.proposal_model.complete(request)
        return completion.text


class NullLogger:
    """GEPA logs each step to stdout by default; the library never prints."""

    def log(self, message: str, *args: Any, **kwargs: Any) -> None:
        return None


def placeholder_note(found: Sequence[str]) -> str:
    """What GEPA's reflection prompt adds for a template component: keep its placeholders."""
    shown = ", ".join("{" + v + "}" for v in found)
    if len(found) == 1:
        return (f"\n\nThe instructions are a template: the placeholder {shown} is replaced by a "
                "task input before the assistant sees it. The new instruction must contain "
                f"{shown} exactly as written, in braces, where that input belongs.")
    return (f"\n\nThe instructions are a template: the placeholders {shown} are replaced by "
            "task inputs before the assistant sees them. The new instruction must contain each "
            f"of {shown} exactly as written, in braces, where those inputs belong.")


def reflection_templates(texts: Texts) -> dict[str, str] | None:
    """GEPA's default reflection prompt, told to keep the placeholders of each component whose
    seed text has any; None when none has (GEPA's default for all)."""
    from gepa.strategies.instruction_proposal import InstructionProposalSignature

    default = InstructionProposalSignature.default_prompt_template
    head, sep, tail = default.partition("\n\nProvide the new instructions")
    out: dict[str, str] = {}
    for name in texts.names:
        found = variables(texts.seed.components.get(name, ""))
        if found and sep:
            out[name] = head + placeholder_note(found) + sep + tail
    return out or None
