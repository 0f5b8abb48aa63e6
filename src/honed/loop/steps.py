"""The steps of a cycle that do work: optimize the served prompt on harvested data (its
held-out test is the frozen split, so the search never sees it), gate the best against
production on that test, and start the online experiment."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from honed.loop.config import LoopConfig
from honed.loop.harvest import Harvested


@dataclass(frozen=True)
class Optimized:
    result: dict[str, Any]  # OptimizationResult.to_dict()
    calls: int
    cost_usd: float
    version: int | None  # the registered best (None: nothing registered)
    changed: bool  # the best differs from the production prompt


def target_field(task: Any) -> str:
    """The dataset field holding the expected answer: the first variable of the task's answer
    template (``{label}`` -> ``label``)."""
    from honed.task.template import variables

    template = task.target_template()
    found = variables(template) if template else []
    return found[0] if found else "label"


def cycle_task(task: Any, production: Any, data: Harvested, config: LoopConfig) -> Any:
    """The task a cycle optimizes: the loop task's model and evals, the served prompt (its
    demos inline) as the seed, the harvested splits inline, registered under the prompt's
    name, not tracked in MLflow."""
    from honed.task.task import DataConfig, PromptConfig

    seed = production.candidate
    demos = [dict(production.demo_rows[d]) for d in seed.demos if d in production.demo_rows]
    prompt = PromptConfig(system=seed.system, user=seed.user, demos=demos)
    data_config = DataConfig(train=data.train, val=data.val, test=data.test)
    return task.model_copy(update={"name": config.prompt, "prompt": prompt,
                                   "data": data_config, "tracking": "none", "gates":
                                   task.gates})


def optimize(task: Any, home: Path, config: LoopConfig, max_calls: int,
             model: Any = None) -> Optimized:
    """Run the one optimize flow, published (so the best is registered as ``candidate``)."""
    from honed.engine.budget import Limits
    from honed.lifecycle.optimize import OptimizeOptions
    from honed.lifecycle.optimize import optimize as run
    from honed.optimizers.session import SearchOptions

    settings = config.optimize
    search = SearchOptions(seed=settings.seed, limits=Limits(max_calls=max_calls), home=home)
    options = OptimizeOptions(optimizer=settings.optimizer, params=settings.params,
                              search=search, write_output=False, publish=True)
    result = asyncio.run(run(task, options, model=model))
    data = result.to_dict()
    changed = result.best_val.candidate.id != result.seed_val.candidate.id
    registered = data.get("registered") or {}
    calls = int(data.get("calls", 0)) + int(data.get("proposer_calls", 0) or 0)
    return Optimized(data, calls, float(data.get("cost_usd") or 0.0),
                     registered.get("version") if changed else None, changed)


def gate(optimized: Optimized, config: LoopConfig) -> tuple[bool, dict[str, Any]]:
    """Best against production (the seed) on the frozen test: passes when the best is a new
    prompt, its paired difference reaches ``min_diff`` and, if asked, is significant."""
    diff = optimized.result.get("test_diff") or {}
    best = (optimized.result.get("best") or {}).get("test") or {}
    seed = (optimized.result.get("seed") or {}).get("test") or {}
    evidence = {"production_test": seed.get("score"), "best_test": best.get("score"),
                "diff": diff.get("diff"), "ci95": diff.get("ci95"), "n": diff.get("n"),
                "min_diff": config.gate.min_diff, "registered": optimized.version}
    reasons = []
    if not optimized.changed:
        reasons.append("the search found nothing better than production")
    elif diff.get("diff") is None or diff["diff"] < config.gate.min_diff:
        reasons.append(f"the gain on the frozen test is below {config.gate.min_diff}")
    elif config.gate.significant and not diff.get("significant"):
        reasons.append("the gain on the frozen test is not significant")
    if optimized.version is None and optimized.changed:
        reasons.append("the best prompt was not registered")
    return not reasons, {**evidence, "reasons": reasons}


def start_experiment(log_store: Any, registry: Any, config: LoopConfig, cycle: int,
                     version: int, now: float) -> str:
    """An online experiment of the registered version against the served alias."""
    from honed.experiments import ExperimentConfig, parse_guardrails, parse_metric
    from honed.lifecycle.experiments import start_experiment as start

    settings = config.experiment
    name = f"{config.loop_name}-cycle-{cycle}"
    metric = parse_metric(settings.metric, flag="experiment.metric")
    experiment = ExperimentConfig(
        name, f"{config.prompt}@{config.alias}", f"{config.prompt}/{version}", metric,
        settings.split, tuple(parse_guardrails(settings.guardrails,
                                               flag="experiment.guardrails")),
        settings.max_requests, settings.max_days,
        str(config.task) if metric.kind == "eval" else None, settings.unit)
    start(log_store, registry, experiment, now=now)
    return name
