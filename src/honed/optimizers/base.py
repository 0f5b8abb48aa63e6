"""The Optimizer protocol and the SearchContext every optimizer works through.

An optimizer gets a ``SearchContext`` and a seed candidate and asks the context to evaluate
candidates on train (minibatches, demos, feedback) or val (selection). The context passes the
evaluations to the evaluation service (``engine.service``: budget, cache, checkpoints), tracks
the best candidate by the objective, emits every step as an event and never lets a search see
test.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Protocol

from honed.engine.client import ModelClient
from honed.engine.results import ExampleResult, summarize
from honed.engine.service import EvalService, StageExhausted
from honed.errors import ConfigError
from honed.optimizers.mutations import target_of, task_labels
from honed.optimizers.sampling import proportional_sample
from honed.task.dataset import Splits
from honed.task.task import Task
from honed.tracking.events import CandidateEvaluated, CandidateProposed, Emitter, PhaseStarted
from honed.types import Candidate, Example, Message

__all__ = ["Objective", "Optimizer", "Scored", "SearchContext", "StageExhausted",
           "describe", "score_results"]


@dataclass(frozen=True)
class Objective:
    """Quality, optionally traded against prompt length and cost.

    ``value = score - length_penalty * prompt_tokens / 1000 - cost_weight * cost_per_example``;
    candidates over ``max_prompt_tokens`` are infeasible.
    """

    length_penalty: float = 0.0
    cost_weight: float = 0.0
    max_prompt_tokens: int | None = None

    def value(self, score: float, prompt_tokens: float, cost_per_example: float) -> float:
        if self.max_prompt_tokens is not None and prompt_tokens > self.max_prompt_tokens:
            return float("-inf")
        return (score - self.length_penalty * prompt_tokens / 1000
                - self.cost_weight * cost_per_example)


@dataclass(frozen=True)
class Scored:
    """A candidate's evaluation on a set of examples."""

    candidate: Candidate
    split: str
    score: float
    n: int
    ci95: tuple[float, float]
    objective: float
    results: tuple[ExampleResult, ...]
    prompt_tokens: float
    cost_per_example: float
    errors: int = 0  # failed calls and raising evals, counted in n as failures

    @property
    def per_example(self) -> dict[str, float]:
        """Per-example scores, errors as 0 (see ``ExampleResult.value``)."""
        return {r.example_id: r.value for r in self.results if r.value is not None}

    def failures(self) -> list[ExampleResult]:
        return [r for r in self.results if r.value is not None and not r.passed]

    def passes(self) -> list[ExampleResult]:
        return [r for r in self.results if r.passed]


@dataclass
class SearchContext:
    """What an optimizer works through: evaluate candidates on a split, ask the proposer,
    report progress. The budget, cache and checkpoints belong to the evaluation service; the
    steps and candidates go out as events (the run store, MLflow and the terminal listen)."""

    task: Task
    splits: Splits
    service: EvalService
    seed: int = 0
    objective: Objective = field(default_factory=Objective)
    emitter: Emitter = field(default_factory=Emitter)
    minibatch_size: int = 16
    rng: random.Random = field(init=False)
    best: Scored | None = field(default=None, init=False)
    history: list[Scored] = field(default_factory=list, init=False)
    iteration: int = field(default=0, init=False)
    _outside_best: float = field(default=float("-inf"), init=False)
    _known: set[str] = field(default_factory=set, init=False)

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)

    # budget (read-only: the service decides) -----------------------------------------------
    @property
    def rollouts(self) -> int:
        return self.service.rollouts

    def remaining(self) -> int | None:
        """Rollouts left for the search (the tighter of the run and the current stage)."""
        return self.service.remaining()

    def can_afford(self, n: int) -> bool:
        return self.service.can_afford(n)

    def set_stage(self, share: float | None) -> None:
        """Cap the next stage at ``share`` of the rollouts left (None lifts the cap)."""
        self.service.cap(share)

    def calls_per_example(self) -> int:
        return self.service.calls_per_example()

    @property
    def reflection(self) -> ModelClient | None:
        """The proposer (reflection) model, if one is configured."""
        return self.service.proposer_model

    # data ----------------------------------------------------------------------------------
    @cached_property
    def labels(self) -> tuple[str, ...]:
        """The task's labels (none for a free-form task), derived once from its train split."""
        return task_labels(self.task, self.splits.train)

    def examples(self, split: str) -> tuple[Example, ...]:
        if split == "test":
            raise ConfigError("the search may not evaluate on test", field="split")
        return self.splits.get(split)

    def minibatch(self, split: str = "train", size: int | None = None) -> tuple[Example, ...]:
        """A random minibatch; for a task with labels, one with the split's label mix."""
        pool = self.examples(split)
        size = min(size or self.minibatch_size, len(pool))
        if self.labels:
            chosen = proportional_sample(pool, size, lambda ex: target_of(self.task, ex),
                                         self.rng)
        else:
            chosen = sorted(self.rng.sample(range(len(pool)), size))
        return tuple(pool[i] for i in chosen)

    # evaluation ----------------------------------------------------------------------------
    async def evaluate(self, candidate: Candidate, split: str = "val",
                       examples: Sequence[Example] | None = None, *,
                       origin: str = "", parent: str | None = None) -> Scored:
        """Score a candidate (memoized per run). Raises BudgetExhausted before starting if the
        budget cannot cover the whole evaluation, so nothing is left half-done."""
        examples = tuple(examples if examples is not None else self.examples(split))
        if any(ex.id in {t.id for t in self.splits.test} for ex in examples):
            raise ConfigError("the search may not evaluate test examples", field="split")
        self._propose(candidate, parent, origin)
        results = await self.service.evaluate(candidate, examples, split)
        return self.scored_from(candidate, split, results)

    def _propose(self, candidate: Candidate, parent: str | None, origin: str) -> None:
        if candidate.id not in self._known:
            self._known.add(candidate.id)
            self.emitter.emit(CandidateProposed(candidate, parent, origin))

    def scored_from(self, candidate: Candidate, split: str,
                    results: Sequence[ExampleResult]) -> Scored:
        return score_results(candidate, split, results, self.objective, self.seed)

    async def reflect(self, messages: Sequence[Message], *, temperature: float = 0.7,
                      max_tokens: int = 2048) -> str:
        """Ask the proposer (reflection) model, within the budget."""
        return await self.service.propose(messages, temperature=temperature,
                                          max_tokens=max_tokens)

    # bookkeeping ---------------------------------------------------------------------------
    def phase(self, name: str, detail: str = "") -> None:
        self.emitter.emit(PhaseStarted(name, detail))

    def record(self, scored: Scored, *, accepted: bool, phase: str, note: str = "") -> bool:
        """Record a step; a val-scored candidate that beats the best becomes the best."""
        improved = False
        if scored.split == "val":
            self.history.append(scored)
            if self.best is None or scored.objective > self.best.objective:
                self.best, improved = scored, True
        self._step(scored, accepted, phase, note)
        return improved

    def choose(self, scored: Scored, *, phase: str, note: str) -> None:
        """Make a val-scored candidate the best although another scored higher on val (a final
        choice made on more data than val)."""
        if scored.split != "val":
            raise ValueError("the best is chosen by its val evaluation")
        self.best = scored
        self._step(scored, True, phase, note)

    def progress(self, candidate: Candidate, score: float, n: int, *, phase: str,
                 note: str) -> None:
        """Record an outside optimizer's own val score for a candidate (DSPy's evaluations) as a
        step of the trajectory, without making it the best: honed verifies that one itself."""
        self._propose(candidate, None, phase)
        self._outside_best = max(self._outside_best, score)
        best = max(self._outside_best, self.best.score if self.best is not None else score)
        self._emit_step(candidate.id, "val", score, n, False, phase, note, best)

    def _step(self, scored: Scored, accepted: bool, phase: str, note: str) -> None:
        best = self.best.score if self.best is not None else scored.score
        self._emit_step(scored.candidate.id, scored.split, scored.score, scored.n, accepted,
                        phase, note, best)

    def _emit_step(self, candidate_id: str, split: str, score: float, n: int, accepted: bool,
                   phase: str, note: str, best: float) -> None:
        self.emitter.emit(CandidateEvaluated(self.iteration, candidate_id, split, score, n,
                                             accepted, best, self.rollouts,
                                             self.service.cost_usd, note, phase))


def score_results(candidate: Candidate, split: str, results: Sequence[ExampleResult],
                  objective: Objective, seed: int) -> Scored:
    """A candidate's results summarized (score, CI, errors) and valued by the objective."""
    summary = summarize(results, seed=seed)
    calls = max(1, sum(1 for r in results if r.error_kind != "budget"))
    prompt_tokens = summary.input_tokens / calls
    cost = summary.cost_usd / calls
    return Scored(candidate, split, summary.score, summary.n, summary.ci95,
                  objective.value(summary.score, prompt_tokens, cost), tuple(results),
                  prompt_tokens, cost, summary.errors)


class Optimizer(Protocol):
    """A search strategy. ``search`` spends the context's budget; the best is ``ctx.best``."""

    name: str

    async def search(self, ctx: SearchContext, seed: Candidate) -> None: ...


def describe(candidate: Candidate, demos: Mapping[str, Example] | None = None) -> dict[str, Any]:
    """A candidate as the user sees it: system, user, demos."""
    data: dict[str, Any] = {"system": candidate.system, "user": candidate.user,
                            "demos": list(candidate.demos)}
    extra = {k: v for k, v in candidate.components.items() if k not in ("system", "user")}
    if extra:
        data["components"] = extra
    return data
