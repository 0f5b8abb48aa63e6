"""What every spec-built scorer shares: its name and weight from the spec, the rendered reference
value of an example, and the result for an empty output."""

from __future__ import annotations

from typing import Protocol

from honed.evals.base import EvalResult, SyncScorer, render_reference
from honed.evals.normalize import clip
from honed.task.eval_specs import eval_name
from honed.types import Example


class SpecLike(Protocol):
    @property
    def name(self) -> str | None: ...

    @property
    def weight(self) -> float: ...


def reference(template: str, example: Example) -> str:
    """The expected value for ``example``; a missing field names the template and the example."""
    try:
        return render_reference(template, example)
    except KeyError as exc:
        raise ValueError(f"expected template {template!r} needs field {exc.args[0]!r}, "
                         f"which example {example.id!r} lacks") from None


def empty(expected: str | None = None) -> EvalResult:
    wanted = f"; expected {clip(expected)}" if expected is not None else ""
    return EvalResult.of(False, f"the output is empty{wanted}", "empty")


class SpecScorer(SyncScorer):
    """A synchronous scorer named and weighted by its spec."""

    def __init__(self, spec: SpecLike) -> None:
        self.name = eval_name(spec)
        self.weight = spec.weight
