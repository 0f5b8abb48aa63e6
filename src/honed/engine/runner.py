"""The Engine: ``evaluate(candidate, examples)`` with bounded concurrency, cache, retries, budget.

Optimizers never call a model for task rollouts themselves; they ask the engine, and get budget,
cache, events and statistics for free.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from honed.engine.budget import Budget
from honed.engine.client import CallStats, ModelClient
from honed.engine.executors.base import Executor
from honed.engine.executors.local import LocalExecutor
from honed.engine.results import ExampleResult, Summary, summarize
from honed.errors import BudgetExhausted, HonedError, ProviderError
from honed.evals.base import EvalContext, EvalResult, Scorer, run_scorer, weighted_score
from honed.providers.base import Completion, OutputSpec, Request
from honed.task.render import prompt_text, render_messages
from honed.task.task import Task
from honed.tracking.events import (
    CallCompleted,
    Emitter,
    EvalFinished,
    EvalStarted,
    ExampleScored,
)
from honed.types import Candidate, Example


@dataclass(frozen=True)
class EvalReport:
    candidate: Candidate
    label: str
    results: tuple[ExampleResult, ...]
    summary: Summary
    stats: CallStats
    wall_s: float
    stopped: str | None = None  # the budget limit that stopped it early

    def scores(self) -> dict[str, float]:
        """Per-example scores, errors as 0 (see ``ExampleResult.value``)."""
        return {r.example_id: r.value for r in self.results if r.value is not None}


@dataclass
class Engine:
    task: Task
    client: ModelClient
    scorers: Sequence[Scorer]
    demos: Mapping[str, Example]
    emitter: Emitter = field(default_factory=Emitter)
    seed: int = 0
    executor: Executor = field(default_factory=LocalExecutor)  # where model calls run

    @property
    def budget(self) -> Budget:
        return self.client.budget

    def output_spec(self) -> OutputSpec:
        out = self.task.output
        if out is None:
            return OutputSpec()
        return OutputSpec(tuple(out.choices) if out.choices else None, out.json_schema)

    def request(self, candidate: Candidate, example: Example) -> Request:
        cfg = self.task.model
        target = self.task.target_template()
        if target is None and candidate.demos:
            target = self.task.demo_target_or_error()
        messages = render_messages(candidate, example, self.demos, target or "")
        return Request(messages, cfg.temperature, cfg.max_tokens, self.output_spec())

    async def evaluate(self, candidate: Candidate, examples: Sequence[Example], *,
                       label: str = "eval") -> EvalReport:
        before, started = self.client.stats.copy(), time.perf_counter()
        self.emitter.emit(EvalStarted(label, candidate.id, len(examples)))
        stopped: list[str] = []

        prefetched, batch = self._prefetch(candidate, examples)

        async def one(example: Example) -> ExampleResult:
            ready = prefetched.get(example.id)
            result = await self._evaluate_one(candidate, example, stopped, label,
                                              await ready if ready is not None else None)
            self.emitter.emit(ExampleScored(
                label, candidate.id, example.id, result.score, result.error, result.cached,
                self.client.stats.calls, self.budget.cost_usd))
            return result

        try:
            results = tuple(await asyncio.gather(*(one(ex) for ex in examples)))
        finally:
            if batch is not None:
                await batch
        if self.client.cache is not None:
            self.client.cache.flush()
        summary = summarize(results, seed=self.seed)
        self.emitter.emit(EvalFinished(label, candidate.id, summary.score, summary.n,
                                       summary.errors))
        return EvalReport(candidate, label, results, summary, self.client.stats.since(before),
                          time.perf_counter() - started, stopped[0] if stopped else None)

    def _prefetch(self, candidate: Candidate, examples: Sequence[Example],
                  ) -> tuple[dict[str, asyncio.Future[Completion | HonedError]],
                             asyncio.Task[Any] | None]:
        """For models that batch (the embedded one shares the prompt prefix across examples),
        complete every example in one go, each example's future resolved as its row finishes
        (so scoring and progress advance row by row); others are called per example."""
        if not self.client.supports_batch or len(examples) < 2:
            return {}, None
        loop = asyncio.get_running_loop()
        futures = {ex.id: loop.create_future() for ex in examples}
        order = [ex.id for ex in examples]

        def done(index: int, outcome: Completion | HonedError) -> None:
            future = futures[order[index]]
            if not future.done():
                future.set_result(outcome)

        async def run() -> None:
            requests = [self.request(candidate, ex) for ex in examples]
            try:
                outcomes = await self.client.complete_many(requests, on_done=done)
            except BaseException as exc:
                for future in futures.values():
                    if not future.done():
                        future.set_exception(exc)
                raise
            for index, outcome in enumerate(outcomes):
                done(index, outcome)

        return futures, asyncio.ensure_future(run())

    async def _evaluate_one(self, candidate: Candidate, example: Example,
                            stopped: list[str], label: str,
                            prefetched: Completion | HonedError | None = None,
                            ) -> ExampleResult:
        request = self.request(candidate, example)
        try:
            if isinstance(prefetched, HonedError):
                raise prefetched
            completion = prefetched or await self.client.complete(request)
        except BudgetExhausted as exc:
            if not stopped:
                stopped.append(exc.limit)
            return ExampleResult(example.id, error=str(exc), error_kind="budget")
        except ProviderError as exc:
            return ExampleResult(example.id, error=f"{type(exc).__name__}: {exc}",
                                 error_kind="provider")
        self.emitter.emit(CallCompleted(
            label, candidate.id, example.id, self.client.spec,
            tuple(m.to_dict() for m in request.messages), completion.text,
            completion.usage.input_tokens, completion.usage.output_tokens, completion.latency_s,
            completion.cost_usd, completion.cached))
        return await self._score(example, request, completion)

    async def _score(self, example: Example, request: Request,
                     completion: Completion) -> ExampleResult:
        ctx = EvalContext(example, completion.text, completion.usage, completion.latency_s,
                          completion.cost_usd, prompt_text(request.messages))
        common = dict(output=completion.text, input_tokens=completion.usage.input_tokens,
                      output_tokens=completion.usage.output_tokens,
                      latency_s=completion.latency_s, cost_usd=completion.cost_usd,
                      cached=completion.cached,
                      format_violation=violates(request.output, completion.text))
        evals: dict[str, EvalResult] = {}
        for scorer in self.scorers:
            try:
                evals[scorer.name] = await run_scorer(scorer, ctx)
            except BudgetExhausted as exc:
                return ExampleResult(example.id, error=str(exc), error_kind="budget", **common)
            except Exception as exc:  # a scorer that raises is a recorded error, never a 0
                return ExampleResult(example.id, evals=evals, error_kind="scorer",
                                     error=f"eval {scorer.name!r} raised "
                                           f"{type(exc).__name__}: {exc}", **common)
        weights = {s.name: s.weight for s in self.scorers}
        return ExampleResult(example.id, score=weighted_score(evals, weights),
                             passed=all(r.passed for r in evals.values()), evals=evals,
                             **common)


def violates(spec: OutputSpec, text: str) -> bool:
    """Does the output break the declared structure? Counted apart from wrong answers."""
    if spec.choices:
        return text.strip() not in spec.choices
    if spec.json_schema is not None:
        try:
            import jsonschema

            jsonschema.validate(json.loads(text), dict(spec.json_schema))
        except Exception:
            return True
    return False
