"""The Optimizer protocol and the SearchContext every optimizer works through.

An optimizer gets a ``SearchContext`` and a seed candidate and spends the budget by asking the
context to evaluate candidates on train (minibatches, demos, feedback) or val (selection). The
context memoizes evaluations in the run store (so a resumed run replays them for free), tracks
the best candidate by the objective, records every step and never lets a search see test.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Protocol

from honed.engine.budget import Estimate
from honed.engine.client import ModelClient
from honed.engine.results import ExampleResult, summarize
from honed.engine.runner import Engine
from honed.errors import BudgetExhausted, ConfigError
from honed.optimizers.mutations import target_of, task_labels
from honed.optimizers.sampling import proportional_sample
from honed.providers.base import Request
from honed.task.dataset import Splits
from honed.task.task import Task
from honed.tracking.events import CandidateEvaluated, Emitter, PhaseStarted
from honed.tracking.store import RunStore
from honed.types import Candidate, Example, Message, content_hash


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


class StageExhausted(BudgetExhausted):
    """A stage of a schedule used up its share; the run as a whole may go on."""


@dataclass
class SearchContext:
    task: Task
    splits: Splits
    engine: Engine
    store: RunStore
    run_id: str
    seed: int = 0
    objective: Objective = field(default_factory=Objective)
    reflection: ModelClient | None = None
    emitter: Emitter = field(default_factory=Emitter)
    minibatch_size: int = 16
    rng: random.Random = field(init=False)
    best: Scored | None = field(default=None, init=False)
    history: list[Scored] = field(default_factory=list, init=False)
    iteration: int = field(default=0, init=False)
    _seq: int = field(default=0, init=False)
    _stage_cap: int | None = field(default=None, init=False)
    _reflect_calls: int = field(default=0, init=False)
    _charged: set[str] = field(default_factory=set, init=False)
    _outside_best: float = field(default=float("-inf"), init=False)

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)

    # budget --------------------------------------------------------------------------------
    @property
    def rollouts(self) -> int:
        return self.engine.budget.rollouts

    def remaining(self) -> int | None:
        """Rollouts left for the search (the tighter of the run and the current stage)."""
        left = self.engine.budget.remaining_calls()
        if self._stage_cap is not None:
            stage_left = max(0, self._stage_cap - self.rollouts)
            left = stage_left if left is None else min(left, stage_left)
        return left

    def can_afford(self, n: int) -> bool:
        left = self.remaining()
        return left is None or left >= n

    def set_stage(self, share: float | None) -> None:
        """Cap the next stage at ``share`` of the rollouts left (None lifts the cap)."""
        if share is None:
            self._stage_cap = None
            return
        left = self.engine.budget.remaining_calls()
        self._stage_cap = None if left is None else self.rollouts + int(left * share)

    def _ensure(self, candidate: Candidate, examples: Sequence[Example]) -> None:
        """Refuse an evaluation the budget cannot cover whole, before it starts."""
        n = len(examples) * self.calls_per_example()
        if not self.can_afford(n):
            reason = self.engine.budget.exhausted() or "max_calls"
            stage = self._stage_cap is not None and (self._stage_cap - self.rollouts) < n
            raise (StageExhausted if stage else BudgetExhausted)(reason, f"needs {n} calls")
        worst = self._worst_case(candidate, examples)
        reason = self.engine.budget.fits(worst)
        if reason:
            raise BudgetExhausted(reason, f"the evaluation could take {worst.tokens} tokens")

    def _worst_case(self, candidate: Candidate, examples: Sequence[Example]) -> Estimate:
        """Every call of an evaluation at its worst case (judges priced like the task call).
        Checked against the rollout ledger, this stops a token- or USD-limited search at the
        same point cold, warm or resumed, and before the engine's hard check could cut an
        evaluation short."""
        if not (self.engine.budget.limits.max_tokens or self.engine.budget.limits.max_usd):
            return Estimate()
        per = [self.engine.client.estimate(self.engine.request(candidate, ex))
               for ex in examples]
        k = self.calls_per_example()
        return Estimate(k * sum(e.tokens for e in per), k * sum(e.usd for e in per))

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
        key = content_hash([candidate.id, split, [ex.id for ex in examples]], 24)
        self.store.add_candidate(self.run_id, candidate, parent=parent, origin=origin)
        stored = self.store.evaluation(self.run_id, key)
        if stored is not None:
            results = tuple(ExampleResult.from_dict(r) for r in stored["results"])
            if key not in self._charged:  # a resumed run pays what the original run paid
                self._replay(stored)
        else:
            self._ensure(candidate, examples)
            before, charged = self.rollouts, self._ledger()
            report = await self.engine.evaluate(candidate, examples, label=split)
            results = report.results
            if report.stopped:
                raise BudgetExhausted(report.stopped, "during an evaluation")
            spent = [now - then for now, then in zip(self._ledger(), charged, strict=True)]
            self.store.save_evaluation(
                self.run_id, key, candidate_id=candidate.id, split=split, n=report.summary.n,
                score=report.summary.score,
                summary={**report.summary.to_dict(), "charged": spent},
                results=[r.to_dict() for r in results], rollouts=self.rollouts - before)
        self._charged.add(key)
        return self.scored_from(candidate, split, results)

    def calls_per_example(self) -> int:
        judges = sum(1 for s in self.task.evals if s.type == "llm_judge")
        return 1 + judges

    def _ledger(self) -> tuple[int, int, float]:
        c = self.engine.budget.charged
        return (c.input_tokens, c.output_tokens, c.cost_usd)

    def _replay(self, stored: Mapping[str, Any]) -> None:
        """Charge a checkpointed evaluation's rollouts, tokens and cost as the original run
        did, so a resumed run's budget stands where the original's stood."""
        budget = self.engine.budget
        budget.rollouts += int(stored["rollouts"])
        charged = stored["summary"].get("charged")
        if charged:
            budget.charged.add(int(charged[0]), int(charged[1]), float(charged[2]))

    def scored_from(self, candidate: Candidate, split: str,
                results: Sequence[ExampleResult]) -> Scored:
        summary = summarize(results, seed=self.seed)
        calls = max(1, sum(1 for r in results if r.error_kind != "budget"))
        prompt_tokens = summary.input_tokens / calls
        cost = summary.cost_usd / calls
        return Scored(candidate, split, summary.score, summary.n, summary.ci95,
                      self.objective.value(summary.score, prompt_tokens, cost), tuple(results),
                      prompt_tokens, cost, summary.errors)

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
        self.store.add_candidate(self.run_id, candidate, origin=phase)
        self._outside_best = max(self._outside_best, score)
        best = max(self._outside_best, self.best.score if self.best is not None else score)
        self._write_step(candidate.id, "val", score, n, False, phase, note, best)

    def _step(self, scored: Scored, accepted: bool, phase: str, note: str) -> None:
        best = self.best.score if self.best is not None else scored.score
        self._write_step(scored.candidate.id, scored.split, scored.score, scored.n, accepted,
                         phase, note, best)

    def _write_step(self, candidate_id: str, split: str, score: float, n: int, accepted: bool,
                    phase: str, note: str, best: float) -> None:
        self._seq += 1
        self.store.add_step(self.run_id, self._seq, iteration=self.iteration, phase=phase,
                            candidate_id=candidate_id, split=split, score=score, n=n,
                            accepted=accepted, best_so_far=best, rollouts=self.rollouts,
                            cost_usd=self.engine.budget.cost_usd, note=note)
        self.emitter.emit(CandidateEvaluated(self.iteration, candidate_id, split, score, n,
                                             accepted, best, self.rollouts,
                                             self.engine.budget.cost_usd, note))

    async def reflect(self, messages: Sequence[Message], *, temperature: float = 0.7,
                      max_tokens: int = 2048) -> str:
        """Ask the reflection model. Seeds are derived from the run seed, so answers are cached
        and a resumed run gets the same proposals."""
        if self.reflection is None:
            raise ConfigError("this optimizer needs a reflection model",
                              field="--reflection-model",
                              fix="pass --reflection-model SPEC (e.g. openai:gpt-4.1-mini)")
        self._reflect_calls += 1
        request = Request(tuple(messages), temperature, max_tokens,
                          seed=self.seed * 100_003 + self._reflect_calls)
        reason = self.engine.budget.fits(self.reflection.estimate(request))
        if reason:  # decided on the rollout ledger, so cold, warm and resumed runs agree
            raise BudgetExhausted(reason, "no room for a reflection call at its worst case")
        completion = await self.reflection.complete(request)
        return completion.text


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
