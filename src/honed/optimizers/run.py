"""Run an optimization end to end: seed on val, search, prove on test, record, write the file.

Splits: train for proposals and demos, val for selection, test evaluated once at the end for the
seed and the best only. Calls for that final test evaluation are reserved from ``max_calls`` up
front, so the whole run never exceeds the limit.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from honed.engine.budget import Limits
from honed.engine.results import paired_diff
from honed.errors import BudgetExhausted, ConfigError, ProviderError
from honed.optimizers.base import Objective, Scored, SearchContext
from honed.optimizers.registry import NEEDS_DEMO_TARGET, NEEDS_REFLECTION, build_optimizer
from honed.optimizers.result import OptimizationResult, pareto_front
from honed.optimizers.session import SearchOptions, open_search, open_store
from honed.providers.base import Model
from honed.task.config import load_splits, write_optimized_task
from honed.task.dataset import Splits
from honed.task.leakage import LeakageReport, check_leakage, drop_leaked
from honed.task.task import Task
from honed.tracking.events import Callback, Emitter, Message, PhaseStarted
from honed.tracking.store import RunStore, new_run_id


@dataclass(frozen=True)
class OptimizeOptions:
    optimizer: str = "auto"
    search: SearchOptions = field(default_factory=SearchOptions)
    resume: bool = False
    write_output: bool = True
    drop_leaked: bool = False  # drop train/val rows whose input is also in test

    def config(self) -> dict[str, Any]:
        s = self.search
        return {"optimizer": self.optimizer, "drop_leaked": self.drop_leaked,
                "seed": s.seed, "limits": asdict(s.limits),
                "model": s.model, "reflection_model": s.reflection_model,
                "objective": asdict(s.objective), "minibatch_size": s.minibatch_size,
                "concurrency": s.concurrency, "cache": s.cache}


def options_from_config(config: dict[str, Any]) -> OptimizeOptions:
    search = SearchOptions(seed=config["seed"], limits=Limits(**config["limits"]),
                           model=config["model"], reflection_model=config["reflection_model"],
                           objective=Objective(**config["objective"]),
                           minibatch_size=config["minibatch_size"],
                           concurrency=config["concurrency"], cache=config["cache"])
    return OptimizeOptions(config["optimizer"], search, resume=True,
                           drop_leaked=bool(config.get("drop_leaked", False)))


def with_home(options: OptimizeOptions, home: Path | None) -> OptimizeOptions:
    return replace(options, search=replace(options.search, home=home))


TEST_SPEND_MARGIN = 1.5


def test_reserve(task: Task, splits: Splits) -> int:
    judges = sum(1 for s in task.evals if s.type == "llm_judge")
    return 2 * len(splits.test) * (1 + judges)


def search_limits(limits: Limits, reserve: int) -> Limits:
    if limits.max_calls is None:
        return limits
    left = limits.max_calls - reserve
    if left <= 0:
        raise ConfigError(f"--max-calls {limits.max_calls} leaves nothing for the search: the "
                          f"final test evaluation alone needs {reserve} calls",
                          field="--max-calls", fix=f"use more than {reserve}")
    return replace(limits, max_calls=left)


def spend_reserve(limits: Limits, seed_val: Scored, n_test: int, per_example: int) -> Limits:
    """Search limits with the final test's tokens and USD set aside, estimated from the seed's
    val evaluation (the test evaluates the seed and the best: twice the seed's cost, with a
    margin for a longer best prompt)."""
    if limits.max_tokens is None and limits.max_usd is None:
        return limits
    calls = max(1, seed_val.n) * per_example
    scale = TEST_SPEND_MARGIN * 2 * n_test * per_example / calls
    tokens = sum(r.input_tokens + r.output_tokens for r in seed_val.results) * scale
    usd = sum(r.cost_usd for r in seed_val.results) * scale
    return replace(limits,
                   max_tokens=None if limits.max_tokens is None
                   else max(0, int(limits.max_tokens - tokens)),
                   max_usd=None if limits.max_usd is None else max(0.0, limits.max_usd - usd))


def _warn_duplicates(report: LeakageReport, callbacks: Iterable[Callback]) -> None:
    if not report.clean:
        Emitter(callbacks).emit(Message(f"duplicate inputs: {report.describe()}",
                                        level="warning"))


def _start_run(store: RunStore, task: Task,
               options: OptimizeOptions) -> tuple[str, OptimizeOptions]:
    if options.resume:
        row = store.latest_unfinished(task.name)
        if row is None:
            raise ConfigError(f"no unfinished optimization of task {task.name!r} to resume",
                              field="--resume", fix="run without --resume")
        store.touch(row.id)
        return row.id, options_from_config(row.config)
    run_id = new_run_id()
    store.create_run(run_id, kind="optimize", task=task.name, task_path=task.source,
                     optimizer=options.optimizer, config=options.config())
    return run_id, options


def validate(task: Task, splits: Splits, options: OptimizeOptions,
             reflection: Model | None) -> tuple[Splits, LeakageReport]:
    """Reject bad options before a run record exists; the splits the run uses and their
    leakage report."""
    from honed.optimizers.registry import OPTIMIZERS

    if options.optimizer not in OPTIMIZERS:
        build_optimizer(options.optimizer)  # raises the ConfigError naming the choices
    if options.optimizer in NEEDS_REFLECTION and reflection is None and not (
            options.search.reflection_model or task.reflection_model):
        raise ConfigError(f"optimizer {options.optimizer!r} needs a reflection model",
                          field="--reflection-model",
                          fix="pass --reflection-model SPEC or set reflection_model: in the task")
    if options.optimizer in NEEDS_DEMO_TARGET and task.target_template() is None:
        task.demo_target_or_error()  # raises the ConfigError saying what to add
    search_limits(options.search.limits, test_reserve(task, splits))
    return guard_leakage(task, splits, options.drop_leaked)


def guard_leakage(task: Task, splits: Splits, drop: bool) -> tuple[Splits, LeakageReport]:
    """Refuse test rows whose input (normalized) the search also sees, naming them; with
    ``drop``, drop those rows from train and val instead (test stays intact)."""
    report = check_leakage(task, splits)
    if not report.leaked:
        return splits, report
    if not drop:
        raise ConfigError(report.describe(), file=task.source, field="data.test",
                          fix="remove those rows from test or from train/val, or pass "
                              "--drop-leaked to drop them from train and val")
    return drop_leaked(splits, report), report


async def optimize(task: Task, options: OptimizeOptions | None = None, *,
                   callbacks: Iterable[Callback] = (), model: Model | None = None,
                   reflection: Model | None = None) -> OptimizationResult:
    options = options or OptimizeOptions()
    splits, report = load_splits(task), None
    if not options.resume:
        splits, report = validate(task, splits, options, reflection)
    store = open_store(options.search.home)
    try:
        home = options.search.home
        run_id, options = _start_run(store, task, options)
        if report is None:  # resumed: the data may have changed since, so check it again
            splits, report = guard_leakage(task, splits, options.drop_leaked)
        options = with_home(options, home)
        _warn_duplicates(report, callbacks)
        try:
            result = await _run(task, splits, options, store, run_id, callbacks, model,
                                reflection)
        except (KeyboardInterrupt, asyncio.CancelledError):
            store.touch(run_id, "interrupted")
            raise
        except Exception:
            store.touch(run_id, "failed")  # resumable: its evaluations are checkpointed
            raise
        store.finish_run(run_id, "finished", result.to_dict())
        return result
    finally:
        store.close()


async def _run(task: Task, splits: Splits, options: OptimizeOptions, store: RunStore,
               run_id: str, callbacks: Iterable[Callback], model: Model | None,
               reflection: Model | None) -> OptimizationResult:
    started = time.perf_counter()
    full = options.search.limits
    search = replace(options.search, limits=search_limits(full, test_reserve(task, splits)))
    optimizer = build_optimizer(options.optimizer)
    async with open_search(task, splits, search, run_id=run_id, store=store,
                           callbacks=callbacks, model=model, reflection=reflection) as ctx:
        ctx.phase("seed", "evaluating the seed prompt on val")
        seed_val = await _seed(ctx, task)
        ctx.engine.budget.limits = spend_reserve(search.limits, seed_val, len(splits.test),
                                                 ctx.calls_per_example())
        stopped = await _search(ctx, optimizer, task)
        best_val = ctx.best or seed_val
        ctx.engine.budget.limits = full  # the reserved calls are for the final test
        ctx.emitter.emit(PhaseStarted("test", "seed and best on held-out test"))
        seed_test, best_test = await _test(ctx, seed_val, best_val)
        stats = _stats(ctx, time.perf_counter() - started)
        demo_pool = ctx.engine.demos
    diff = _diff(seed_test, best_test, options.search.seed)
    output = None
    if options.write_output and task.source and Path(task.source).exists():
        output = str(write_optimized_task(task, best_val.candidate, run_id, {
            "val": (seed_val.score, best_val.score),
            "test": (seed_test.score, best_test.score)}, demo_rows=demo_pool))
    sizes = {"train": len(splits.train), "val": len(splits.val), "test": len(splits.test)}
    return OptimizationResult(run_id, options.optimizer, seed_val, best_val, seed_test,
                              best_test, diff, pareto_front(ctx.history), stats, stopped,
                              output, sizes)


async def _seed(ctx: SearchContext, task: Task) -> Scored:
    try:
        seed_val = await ctx.evaluate(task.seed_candidate(), "val", origin="seed")
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


async def _search(ctx: SearchContext, optimizer: Any, task: Task) -> str | None:
    ctx.phase(optimizer.name, "search")
    try:
        await optimizer.search(ctx, task.seed_candidate())
    except BudgetExhausted as exc:
        return exc.limit
    return None


async def _test(ctx: SearchContext, seed_val: Scored, best_val: Scored,
                ) -> tuple[Scored, Scored]:
    test = ctx.splits.test
    seed_report = await ctx.engine.evaluate(seed_val.candidate, test, label="test seed")
    seed_test = ctx.scored_from(seed_val.candidate, "test", seed_report.results)
    if best_val.candidate.id == seed_val.candidate.id:
        return seed_test, seed_test
    best_report = await ctx.engine.evaluate(best_val.candidate, test, label="test best")
    return seed_test, ctx.scored_from(best_val.candidate, "test", best_report.results)


def _diff(seed: Scored, best: Scored, seed_value: int) -> dict[str, Any]:
    diff, ci, n = paired_diff(seed.per_example, best.per_example, seed=seed_value)
    return {"diff": diff, "ci95": list(ci), "n": n,
            "significant": bool(ci[0] > 0 or ci[1] < 0)}


def _stats(ctx: SearchContext, wall_s: float) -> dict[str, Any]:
    budget, stats = ctx.engine.budget, ctx.engine.client.stats
    return {"calls": budget.calls, "requests": budget.requests, "rollouts": budget.rollouts,
            "cache_hits": stats.cache_hits, "retries": stats.retries,
            "retry_reasons": dict(stats.retry_reasons), "failed_calls": stats.failures,
            "charged_tokens": budget.charged.tokens, "input_tokens": budget.input_tokens,
            "output_tokens": budget.output_tokens, "cost_usd": budget.cost_usd,
            "wall_s": wall_s, "candidates": len({s.candidate.id for s in ctx.history})}
