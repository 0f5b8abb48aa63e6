"""Typed events. The library never prints: it emits these, and callbacks render or record them."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

from honed.types import Candidate


@dataclass(frozen=True)
class Event:
    pass


@dataclass(frozen=True)
class EvalStarted(Event):
    label: str
    candidate_id: str
    total: int


@dataclass(frozen=True)
class ExampleScored(Event):
    label: str
    candidate_id: str
    example_id: str
    score: float | None
    error: str | None
    cached: bool
    calls: int
    cost_usd: float


@dataclass(frozen=True)
class CallCompleted(Event):
    """One task-model call for one example (cached or not): what traces are made of."""

    label: str
    candidate_id: str
    example_id: str
    model: str
    messages: tuple[dict[str, str], ...]
    output: str
    input_tokens: int
    output_tokens: int
    latency_s: float
    cost_usd: float
    cached: bool


@dataclass(frozen=True)
class EvalFinished(Event):
    label: str
    candidate_id: str
    score: float
    n: int
    errors: int


@dataclass(frozen=True)
class RetryScheduled(Event):
    model: str
    reason: str
    wait_s: float


@dataclass(frozen=True)
class PhaseStarted(Event):
    phase: str
    detail: str = ""


@dataclass(frozen=True)
class CandidateEvaluated(Event):
    """An optimizer scored a candidate on a split (minibatch or full)."""

    iteration: int
    candidate_id: str
    split: str
    score: float
    n: int
    accepted: bool
    best_so_far: float
    calls: int
    cost_usd: float
    note: str = ""
    phase: str = ""


@dataclass(frozen=True)
class CandidateProposed(Event):
    """A candidate an optimizer is about to evaluate for the first time in this run."""

    candidate: Candidate
    parent: str | None = None
    origin: str = ""


@dataclass(frozen=True)
class Message(Event):
    text: str
    level: str = "info"
    data: dict[str, Any] = field(default_factory=dict)


class Callback(Protocol):
    def __call__(self, event: Event) -> None: ...


class Emitter:
    """Fans events out to callbacks. A failing callback never breaks a run, unless it was
    added as ``required`` (the run store: a run whose steps cannot be recorded must stop)."""

    def __init__(self, callbacks: Iterable[Callback] = ()) -> None:
        self._callbacks: list[tuple[Callback, bool]] = [(c, False) for c in callbacks]
        self.callback_errors = 0

    def add(self, callback: Callback, *, required: bool = False) -> None:
        self._callbacks.append((callback, required))

    def emit(self, event: Event) -> None:
        for callback, required in self._callbacks:
            try:
                callback(event)
            except Exception:
                if required:
                    raise
                self.callback_errors += 1
