"""``--dry-run``: the plan and an estimated call/cost range, without calling any model."""

from __future__ import annotations

from typing import Any

from honed.engine.service import search_limits, test_reserve
from honed.lifecycle.optimize import OptimizeOptions, validate
from honed.optimizers.registry import optimizer_class, summary
from honed.providers.base import count_tokens
from honed.providers.pricing import cost_usd
from honed.task.config import load_splits
from honed.task.render import render_messages
from honed.task.task import Task
from honed.types import Usage

AUTO_SCHEDULE = ("offline: fewshot -> bayes -> mutate (a small budget: mutate -> fewshot); "
                 "with a reflection model: reflective -> pareto -> bayes")


def schedule(name: str) -> str:
    """What the optimizer does, as ``honed optimizers`` says it (``auto``: its stages)."""
    return AUTO_SCHEDULE if name == "auto" else summary(optimizer_class(name))


def _tokens_per_call(task: Task, train: tuple[Any, ...], max_demos: int) -> tuple[int, int]:
    seed = task.seed_candidate()
    demos = {**{ex.id: ex for ex in train}, **task.demo_rows()}
    sample = train[: min(10, len(train))]
    base = [sum(count_tokens(m.content) for m in render_messages(seed, ex, demos,
                                                                 task.target_template() or ""))
            for ex in sample]
    per_demo = sum(base) / max(1, len(base))
    return int(min(base)), int(max(base) + per_demo * max_demos)


def plan(task: Task, options: OptimizeOptions) -> dict[str, Any]:
    """The plan of a run, after the same checks the run itself makes (so a dry run fails
    exactly where the real run would)."""
    splits = load_splits(task)
    if not options.resume:
        splits = validate(task, splits, options, None)[0]
    reserve = test_reserve(task, len(splits.test))
    limits = search_limits(options.search.limits, reserve)
    n_val = len(splits.val)
    low_calls = n_val + reserve // 2
    high_calls = (limits.max_calls + reserve) if limits.max_calls is not None else None
    tin_lo, tin_hi = _tokens_per_call(task, splits.train, 4)
    out_hi = task.model.max_tokens
    if task.output and task.output.choices:
        out_hi = max(count_tokens(c) for c in task.output.choices) + 1
    spec = options.search.model or task.model.spec
    cost_lo = cost_usd(spec, Usage(tin_lo, 1), task.pricing) * low_calls
    cost_hi = (cost_usd(spec, Usage(tin_hi, out_hi), task.pricing) * high_calls
               if high_calls is not None else None)
    return {
        "task": task.name, "optimizer": options.optimizer,
        "schedule": schedule(options.optimizer),
        "model": spec, "reflection_model": options.search.reflection_model,
        "seed": options.search.seed,
        "splits": {"train": len(splits.train), "val": n_val, "test": len(splits.test),
                   "carving": splits.carving},
        "budget": {"max_calls": options.search.limits.max_calls,
                   "max_cost": options.search.limits.max_usd,
                   "max_minutes": (options.search.limits.max_seconds or 0) / 60 or None,
                   "reserved_for_test": reserve},
        "estimate": {"calls": [low_calls, high_calls], "cost_usd": [cost_lo, cost_hi],
                     "input_tokens_per_call": [tin_lo, tin_hi]},
    }
