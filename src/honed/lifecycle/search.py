"""One optimization inside its run: the seed on val, the search, then the seed and the best on
held-out test, each stage under its own limits (the service enforces them)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from honed.engine.budget import Limits
from honed.engine.results import paired_diff
from honed.engine.service import spend_reserve
from honed.errors import BudgetExhausted, ConfigError, ProviderError
from honed.optimizers.base import Optimizer, Scored, SearchContext
from honed.optimizers.result import OptimizationResult, pareto_front
from honed.tracking.events import PhaseStarted


@dataclass(frozen=True)
class SearchRun:
    search: Limits  # the run's limits less what the final test needs
    full: Limits  # the run's limits (the test stage)


@dataclass(frozen=True)
class Outcome:
    seed_val: Scored
    best_val: Scored
    seed_test: Scored
    best_test: Scored
    stopped: str | None
    front: list[dict[str, Any]]

    def result(self, run_id: str, optimizer: str, stats: dict[str, Any],
               sizes: dict[str, int], output: str | None, seed: int) -> OptimizationResult:
        diff, ci, n = paired_diff(self.seed_test.per_example, self.best_test.per_example,
                                  seed=seed)
        test_diff = {"diff": diff, "ci95": list(ci), "n": n,
                     "significant": bool(ci[0] > 0 or ci[1] < 0)}
        return OptimizationResult(run_id, optimizer, self.seed_val, self.best_val,
                                  self.seed_test, self.best_test, test_diff, self.front, stats,
                                  self.stopped, output, sizes)


async def run_search(ctx: SearchContext, optimizer: Optimizer, limits: SearchRun) -> Outcome:
    ctx.phase("seed", "evaluating the seed prompt on val")
    seed_val = await _seed(ctx)
    ctx.service.set_limits(spend_reserve(limits.search, seed_val.results,
                                         len(ctx.splits.test), ctx.calls_per_example()))
    stopped = await _search(ctx, optimizer)
    best_val = ctx.best or seed_val
    ctx.service.set_limits(limits.full)  # the reserved calls are for the final test
    ctx.emitter.emit(PhaseStarted("test", "seed and best on held-out test"))
    seed_test, best_test = await _test(ctx, seed_val, best_val)
    return Outcome(seed_val, best_val, seed_test, best_test, stopped,
                   pareto_front(ctx.history))


async def _seed(ctx: SearchContext) -> Scored:
    try:
        seed_val = await ctx.evaluate(ctx.task.seed_candidate(), "val", origin="seed")
    except BudgetExhausted as exc:
        raise ConfigError(f"the budget cannot cover even the seed evaluation on val "
                          f"({len(ctx.splits.val)} examples): {exc}", field="--max-calls",
                          fix="raise --max-calls / --max-cost") from None
    if seed_val.n and seed_val.errors == seed_val.n:
        first = next((r.error for r in seed_val.results if r.error), "?")
        raise ProviderError(f"every call of the seed evaluation on val failed "
                            f"({seed_val.errors} of {seed_val.n}); first error: {first}")
    ctx.record(seed_val, accepted=True, phase="seed", note="seed prompt")
    return seed_val


async def _search(ctx: SearchContext, optimizer: Optimizer) -> str | None:
    ctx.phase(optimizer.name, "search")
    try:
        await optimizer.search(ctx, ctx.task.seed_candidate())
    except BudgetExhausted as exc:
        return exc.limit
    return None


async def _test(ctx: SearchContext, seed_val: Scored, best_val: Scored,
                ) -> tuple[Scored, Scored]:
    test = ctx.splits.test
    seed_results = await ctx.service.measure(seed_val.candidate, test, "test seed")
    seed_test = ctx.scored_from(seed_val.candidate, "test", seed_results)
    if best_val.candidate.id == seed_val.candidate.id:
        return seed_test, seed_test
    best_results = await ctx.service.measure(best_val.candidate, test, "test best")
    return seed_test, ctx.scored_from(best_val.candidate, "test", best_results)
