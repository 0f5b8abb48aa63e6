"""The Scorer protocol: ``score(ctx) -> EvalResult``.

A score is in [0, 1]; ``feedback`` is the optimizers' learning signal (what was expected, what came
out, a short diff, a failure category). A scorer that raises is recorded by the engine as an error
for that example, never a silent 0.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from honed.types import Example, Usage


@dataclass(frozen=True)
class EvalContext:
    """Everything a scorer may look at for one example."""

    example: Example
    output: str
    usage: Usage = field(default_factory=Usage)
    latency_s: float = 0.0
    cost_usd: float = 0.0
    prompt_text: str = ""


@dataclass(frozen=True)
class EvalResult:
    score: float
    passed: bool
    feedback: str = ""
    labels: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not 0.0 <= self.score <= 1.0:
            raise ValueError(f"score {self.score!r} is outside [0, 1]")

    @property
    def category(self) -> str:
        return self.labels.get("category", "ok" if self.passed else "wrong")

    @classmethod
    def of(cls, passed: bool, feedback: str = "", category: str | None = None) -> EvalResult:
        labels = {"category": category} if category else {}
        return cls(1.0 if passed else 0.0, passed, feedback, labels)


@runtime_checkable
class Scorer(Protocol):
    """``name`` identifies the eval in reports; ``weight`` is its share of the task score."""

    name: str
    weight: float

    async def score(self, ctx: EvalContext) -> EvalResult: ...


class SyncScorer:
    """Base for scorers that compute synchronously: implement ``check``."""

    name: str = "scorer"
    weight: float = 1.0

    def check(self, ctx: EvalContext) -> EvalResult:
        raise NotImplementedError

    async def score(self, ctx: EvalContext) -> EvalResult:
        return self.check(ctx)


async def run_scorer(scorer: Scorer, ctx: EvalContext) -> EvalResult:
    """Call a scorer whose ``score`` may be sync or async."""
    result: Any = scorer.score(ctx)
    if inspect.isawaitable(result):
        result = await result
    if not isinstance(result, EvalResult):
        raise TypeError(f"eval {scorer.name!r} returned {type(result).__name__}, not EvalResult")
    return result


def render_reference(template: str, example: Example) -> str:
    """Fill ``{field}`` placeholders in an expected-value template from the example."""
    from honed.task.template import render

    return render(template, example.fields)


def weighted_score(results: Mapping[str, EvalResult], weights: Mapping[str, float]) -> float:
    total = sum(weights[name] for name in results)
    if total <= 0:
        return 0.0
    return sum(r.score * weights[name] for name, r in results.items()) / total
