"""The evaluation service: the one owner of a run's budget, cache, concurrency and checkpoints.

An optimization asks the service to evaluate candidates; optimizers never see the budget or the
run store. The service

- **reserves before a call**: an evaluation starts only if the budget covers it whole (its
  calls, and its tokens and USD at their worst case), so nothing is left half-done; the engine's
  hard check admits each real request on top of that (see ``engine.budget``);
- **charges cache hits on the rollout ledger** (``count_cached``) but sends and pays nothing for
  them, so the same seed follows the same trajectory cold, warm or resumed;
- **checkpoints** every finished evaluation (``Checkpoints``): a resumed run replays them for
  free and is charged what the original run was charged;
- runs in **stages**: ``search`` (train minibatches and val selection, under the limits less what
  the final test needs) and ``test`` (the full limits). Rollouts are counted per stage
  (``search`` on train, ``validation`` on val, ``test``) and proposer calls apart.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any, Protocol

from honed.engine.budget import Estimate, Limits
from honed.engine.client import ModelClient
from honed.engine.results import ExampleResult
from honed.engine.runner import Engine, EvalReport
from honed.errors import BudgetExhausted, ConfigError
from honed.evals.base import Scorer
from honed.providers.base import OutputSpec, Request
from honed.task.task import Task
from honed.types import Candidate, Example, Message, content_hash

TEST_SPEND_MARGIN = 1.5  # the best prompt may be longer than the seed


class Checkpoints(Protocol):
    """Where finished evaluations are kept for a resume (the run store implements it)."""

    def load(self, key: str) -> Mapping[str, Any] | None: ...

    def save(self, key: str, record: Mapping[str, Any]) -> None: ...


class NoCheckpoints:
    def load(self, key: str) -> Mapping[str, Any] | None:
        return None

    def save(self, key: str, record: Mapping[str, Any]) -> None:
        return None


def calls_per_example(task: Task) -> int:
    """Model calls one example costs: the task call and one per LLM judge."""
    return 1 + sum(1 for s in task.evals if s.type == "llm_judge")


def test_reserve(task: Task, n_test: int) -> int:
    """Calls the final test needs: the seed and the best on every test example."""
    return 2 * n_test * calls_per_example(task)


def search_limits(limits: Limits, reserve: int) -> Limits:
    """The limits of the search stage: ``max_calls`` less the test's ``reserve``."""
    if limits.max_calls is None:
        return limits
    left = limits.max_calls - reserve
    if left <= 0:
        raise ConfigError(f"--max-calls {limits.max_calls} leaves nothing for the search: the "
                          f"final test evaluation alone needs {reserve} calls",
                          field="--max-calls", fix=f"use more than {reserve}")
    return replace(limits, max_calls=left)


def _key(candidate: Candidate, split: str, examples: Sequence[Example]) -> str:
    """An evaluation's checkpoint key: the candidate, the split and the examples."""
    return content_hash([candidate.id, split, [ex.id for ex in examples]], 24)


def spend_reserve(limits: Limits, seed_val: Sequence[ExampleResult], n_test: int,
                  per_example: int) -> Limits:
    """Search limits with the final test's tokens and USD set aside, estimated from the seed's
    val evaluation (the test evaluates the seed and the best: twice the seed's cost, with a
    margin for a longer best prompt)."""
    if limits.max_tokens is None and limits.max_usd is None:
        return limits
    calls = max(1, len(seed_val)) * per_example
    scale = TEST_SPEND_MARGIN * 2 * n_test * per_example / calls
    tokens = sum(r.input_tokens + r.output_tokens for r in seed_val) * scale
    usd = sum(r.cost_usd for r in seed_val) * scale
    return replace(limits,
                   max_tokens=None if limits.max_tokens is None
                   else max(0, int(limits.max_tokens - tokens)),
                   max_usd=None if limits.max_usd is None else max(0.0, limits.max_usd - usd))


class StageExhausted(BudgetExhausted):
    """A stage of a schedule used up its share; the run as a whole may go on."""


_STAGE_OF_SPLIT = {"train": "search", "val": "validation", "test": "test"}


class EvalService:
    """Evaluate candidates on examples within one budget (see the module docstring)."""

    def __init__(self, engine: Engine, *, proposer: ModelClient | None = None,
                 checkpoints: Checkpoints | None = None, seed: int = 0) -> None:
        self._engine = engine
        self._proposer = proposer
        self._stand_in: ModelClient | None = None  # the task model, asked for proposals
        self._checkpoints = checkpoints or NoCheckpoints()
        self._seed = seed
        self._cap_until: int | None = None  # rollouts at which a capped share ends
        self._charged: set[str] = set()
        self._proposals = 0  # proposals asked for (their seeds derive from it)
        self.stage_rollouts: Counter[str] = Counter()
        engine.budget.count_cached = True

    # what optimizers may read --------------------------------------------------------------
    @property
    def task(self) -> Task:
        return self._engine.task

    @property
    def rollouts(self) -> int:
        return self._engine.budget.rollouts

    @property
    def cost_usd(self) -> float:
        return self._engine.budget.cost_usd

    @property
    def demos(self) -> Mapping[str, Example]:
        """Every row a demo id may name (train, the task's inline demos, a version's rows)."""
        return self._engine.demos

    @property
    def scorers(self) -> Sequence[Scorer]:
        return self._engine.scorers

    @property
    def output_spec(self) -> OutputSpec:
        return self._engine.output_spec()

    @property
    def task_model(self) -> ModelClient:
        """The task model behind this budget and cache (for an outside optimizer's calls)."""
        return self._engine.client

    @property
    def proposer_model(self) -> ModelClient | None:
        return self._proposer

    @property
    def proposal_model(self) -> ModelClient:
        """The model an outside optimizer asks for proposals: the proposer, else the task
        model through a client of its own, so those calls are counted as proposer calls (on
        the same budget and cache)."""
        if self._proposer is not None:
            return self._proposer
        if self._stand_in is None:
            task = self._engine.client
            self._stand_in = ModelClient(task.model, task.budget, cache=task.cache,
                                         retry=task.retry, concurrency=task.concurrency,
                                         price=task.price)
        return self._stand_in

    @property
    def proposer_calls(self) -> int:
        """Calls made for proposals (by ``propose`` or through ``proposal_model``)."""
        return sum(c.stats.calls for c in self._clients()[1:])

    def _clients(self) -> list[ModelClient]:
        """The task model's client, then the proposer's (or the stand-in's)."""
        return [c for c in (self._engine.client, self._proposer, self._stand_in)
                if c is not None]

    def request(self, candidate: Candidate, example: Example) -> Request:
        return self._engine.request(candidate, example)

    def calls_per_example(self) -> int:
        return calls_per_example(self.task)

    # stages --------------------------------------------------------------------------------
    def set_limits(self, limits: Limits) -> None:
        """The limits of the stage that starts (see ``search_limits`` and ``spend_reserve``)."""
        self._engine.budget.limits = limits

    def remaining(self) -> int | None:
        """Rollouts left (the tighter of the stage's limits and a capped share)."""
        left = self._engine.budget.remaining_calls()
        if self._cap_until is not None:
            capped = max(0, self._cap_until - self.rollouts)
            left = capped if left is None else min(left, capped)
        return left

    def can_afford(self, n: int) -> bool:
        left = self.remaining()
        return left is None or left >= n

    def cap(self, share: float | None) -> None:
        """Cap what follows at ``share`` of the rollouts left (None lifts the cap)."""
        left = self._engine.budget.remaining_calls()
        self._cap_until = (None if share is None or left is None
                           else self.rollouts + int(left * share))

    # evaluation ----------------------------------------------------------------------------
    async def evaluate(self, candidate: Candidate, examples: Sequence[Example],
                       split: str) -> tuple[ExampleResult, ...]:
        """Score ``candidate`` on ``examples`` (checkpointed per run). Raises BudgetExhausted
        before starting if the budget cannot cover the whole evaluation."""
        key = _key(candidate, split, examples)
        stored = self._restore(key, split)
        if stored is not None:
            return stored
        self._ensure(candidate, examples)
        report = await self._run(candidate, examples, split, key, label=split)
        if report.stopped:
            raise BudgetExhausted(report.stopped, "during an evaluation")
        return report.results

    async def measure(self, candidate: Candidate, examples: Sequence[Example],
                      label: str) -> tuple[ExampleResult, ...]:
        """The final test of ``candidate`` on ``examples``, outside the search: counted under
        the ``test`` stage and checkpointed (for the report, and so a resumed run does not test
        again), but neither refused up front nor raised on a stop, which leaves the results
        it has (the test's calls are reserved from the start)."""
        key = _key(candidate, "test", examples)
        stored = self._restore(key, "test")
        if stored is not None:
            return stored
        return (await self._run(candidate, examples, "test", key, label=label)).results

    def _restore(self, key: str, split: str) -> tuple[ExampleResult, ...] | None:
        """A checkpointed evaluation's results, charged once as the original run was."""
        stored = self._checkpoints.load(key)
        if stored is None:
            return None
        if key not in self._charged:  # a resumed run pays what the original run paid
            self._replay(stored, split)
        self._charged.add(key)
        return tuple(ExampleResult.from_dict(r) for r in stored["results"])

    async def _run(self, candidate: Candidate, examples: Sequence[Example], split: str,
                   key: str, *, label: str) -> EvalReport:
        """Evaluate, count the rollouts under the split's stage and checkpoint a whole
        evaluation (one the budget stopped is not kept)."""
        budget = self._engine.budget
        before, charged = self.rollouts, _ledger(budget.charged)
        report = await self._engine.evaluate(candidate, examples, label=label)
        rollouts = self.rollouts - before
        self.stage_rollouts[_STAGE_OF_SPLIT.get(split, split)] += rollouts
        if report.stopped:
            return report
        spent = [now - then for now, then in zip(_ledger(budget.charged), charged, strict=True)]
        self._checkpoints.save(key, {
            "candidate_id": candidate.id, "split": split, "n": report.summary.n,
            "score": report.summary.score, "summary": {**report.summary.to_dict(),
                                                      "charged": spent},
            "results": [r.to_dict() for r in report.results], "rollouts": rollouts})
        self._charged.add(key)
        return report

    def _ensure(self, candidate: Candidate, examples: Sequence[Example]) -> None:
        """Refuse an evaluation the budget cannot cover whole, before it starts."""
        budget = self._engine.budget
        n = len(examples) * self.calls_per_example()
        if not self.can_afford(n):
            reason = budget.exhausted() or "max_calls"
            capped = self._cap_until is not None and self._cap_until - self.rollouts < n
            raise (StageExhausted if capped else BudgetExhausted)(reason, f"needs {n} calls")
        worst = self._worst_case(candidate, examples)
        reason = budget.fits(worst)
        if reason:
            raise BudgetExhausted(reason, f"the evaluation could take {worst.tokens} tokens")

    def _worst_case(self, candidate: Candidate, examples: Sequence[Example]) -> Estimate:
        """Every call of an evaluation at its worst case (judges priced like the task call).
        Checked against the rollout ledger, this stops a token- or USD-limited search at the
        same point cold, warm or resumed, and before the engine's hard check could cut an
        evaluation short."""
        limits = self._engine.budget.limits
        if not (limits.max_tokens or limits.max_usd):
            return Estimate()
        client = self._engine.client
        per = [client.estimate(self.request(candidate, ex)) for ex in examples]
        k = self.calls_per_example()
        return Estimate(k * sum(e.tokens for e in per), k * sum(e.usd for e in per))

    def _replay(self, stored: Mapping[str, Any], split: str) -> None:
        """Charge a checkpointed evaluation's rollouts, tokens and cost as the original run
        did, so a resumed run's budget stands where the original's stood."""
        budget = self._engine.budget
        budget.rollouts += int(stored["rollouts"])
        self.stage_rollouts[_STAGE_OF_SPLIT.get(split, split)] += int(stored["rollouts"])
        charged = stored["summary"].get("charged")
        if charged:
            budget.charged.add(int(charged[0]), int(charged[1]), float(charged[2]))

    # the proposer --------------------------------------------------------------------------
    async def propose(self, messages: Sequence[Message], *, temperature: float = 0.7,
                      max_tokens: int = 2048) -> str:
        """Ask the proposer (reflection) model. Seeds are derived from the run seed, so answers
        are cached and a resumed run gets the same proposals."""
        if self._proposer is None:
            raise ConfigError("this optimizer needs a reflection model",
                              field="--reflection-model",
                              fix="pass --reflection-model SPEC (e.g. openai:gpt-4.1-mini)")
        self._proposals += 1
        request = Request(tuple(messages), temperature, max_tokens,
                          seed=self._seed * 100_003 + self._proposals)
        reason = self._engine.budget.fits(self._proposer.estimate(request))
        if reason:  # decided on the rollout ledger, so cold, warm and resumed runs agree
            raise BudgetExhausted(reason, "no room for a reflection call at its worst case")
        completion = await self._proposer.complete(request)
        return completion.text

    # reporting -----------------------------------------------------------------------------
    def stats(self) -> dict[str, Any]:
        budget = self._engine.budget
        stats = [c.stats for c in self._clients()]
        return {"calls": budget.calls, "requests": budget.requests, "rollouts": budget.rollouts,
                "stages": dict(self.stage_rollouts), "proposer_calls": self.proposer_calls,
                "cache_hits": sum(s.cache_hits for s in stats),
                "retries": sum(s.retries for s in stats),
                "retry_reasons": dict(sum((s.retry_reasons for s in stats), Counter())),
                "failed_calls": sum(s.failures for s in stats),
                "throttled": sum(s.throttled for s in stats),
                "charged_tokens": budget.charged.tokens, "input_tokens": budget.input_tokens,
                "output_tokens": budget.output_tokens, "cost_usd": budget.cost_usd,
                **self._executor_stats()}

    def _executor_stats(self) -> dict[str, Any]:
        """A remote executor's actors, cells and actors lost (nothing for the local one)."""
        stats = self._engine.executor.stats()
        return {"executor": stats} if stats else {}


def _ledger(ledger: Any) -> tuple[int, int, float]:
    return (ledger.input_tokens, ledger.output_tokens, ledger.cost_usd)
