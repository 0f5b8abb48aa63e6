"""Eval and optimization flows with tracking and the prompt registry around them.

``honed eval`` and ``honed optimize`` call these: MLflow runs (when tracking is on), the task's
prompt auto-registered the first time it is evaluated, ``prompt: {registry: NAME@ALIAS}``
resolved, and every optimization's best prompt registered as a new version under ``candidate``.

A task with ``gates:`` has them checked on the best prompt's held-out test evaluation (the seed
prompt's, on the same examples, stands in for production in a regression gate). The outcome is
tagged on the registered version (``honed.gate``), and failed BLOCK_DEPLOY gates are recorded
under ``honed.blocked``, which ``honed registry promote`` refuses without ``--force``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from honed.engine.client import CallStats
from honed.engine.evaluate import EvalRun, evaluate_task
from honed.engine.results import summarize
from honed.engine.runner import EvalReport
from honed.engine.session import EngineOptions
from honed.errors import ConfigError
from honed.lifecycle.gates import GateReport, check_report, validate_gates
from honed.lifecycle.registry import PromptRegistry, open_registry, require_ref
from honed.optimizers.base import Scored, describe
from honed.optimizers.result import OptimizationResult
from honed.optimizers.run import OptimizeOptions, optimize
from honed.optimizers.session import open_store
from honed.task.task import Task
from honed.tracking.events import Callback
from honed.types import Candidate


@dataclass
class Tracked:
    """What a tracked flow produced, plus tracking problems (warnings, never fatal)."""

    warnings: list[str] = field(default_factory=list)
    registered: dict[str, Any] | None = None


def registry_for(task: Task, home: Path) -> PromptRegistry:
    backend = {"none": "local", "mlflow": "mlflow"}.get(task.tracking)
    return open_registry(home, backend=backend)


def registry_prompt(task: Task, home: Path) -> Candidate | None:
    if not task.prompt.registry:
        return None
    ref = require_ref(task.prompt.registry, "prompt.registry")
    return registry_for(task, home).get(ref).candidate


def _tracker(task: Task, home: Path, kind: str, params: dict[str, Any]) -> Any:
    from honed.tracking.mlflow import open_tracker

    return open_tracker(task, home, kind, params=params)


async def tracked_eval(task: Task, *, home: Path, split: str, limit: int | None,
                       options: EngineOptions, callbacks: Iterable[Callback] = (),
                       ) -> tuple[EvalRun, Tracked]:
    info = Tracked()
    candidate = registry_prompt(task, home)
    params = {"split": split, "limit": limit, "model": options.model or task.model.spec,
              "limits": asdict(options.limits), "cache": options.cache}
    tracker = _tracker(task, home, "eval", params)
    with tracker or contextlib.nullcontext():
        run = await evaluate_task(task, split=split, limit=limit, options=options,
                                  callbacks=[*callbacks, *([tracker] if tracker else [])],
                                  candidate=candidate)
        if tracker is not None:
            tracker.log_eval(run.to_dict(), [r.to_dict() for r in run.report.results],
                             prompt=describe(run.report.candidate))
    if tracker is not None:
        info.warnings.extend(tracker.errors)
    if candidate is None and tracker is not None:
        info.registered = _ensure_registered(task, home, info)
    return run, info


def _ensure_registered(task: Task, home: Path, info: Tracked) -> dict[str, Any] | None:
    from honed.lifecycle.promote import ensure_registered

    try:
        version = ensure_registered(registry_for(task, home), task)
    except Exception as exc:  # the registry is a convenience; the measurement stands
        info.warnings.append(f"prompt registry: {type(exc).__name__}: {exc}")
        return None
    return {"name": version.name, "version": version.version}


async def tracked_optimize(task: Task, options: OptimizeOptions, *, home: Path,
                           callbacks: Iterable[Callback] = (),
                           ) -> tuple[OptimizationResult, Tracked]:
    info = Tracked()
    tracker = _tracker(task, home, "optimize", options.config())
    with tracker or contextlib.nullcontext():
        result = await optimize(task, options, callbacks=[
            *callbacks, *([tracker] if tracker else [])])
        if tracker is not None:
            store = open_store(options.search.home)
            try:
                tracker.log_optimization(result.to_dict(), store.steps(result.run_id),
                                         store.candidates(result.run_id))
            finally:
                store.close()
    if tracker is not None:
        info.warnings.extend(tracker.errors)
    info.registered = _register_best(task, home, result, options.search.seed, info)
    return result, info


def _register_best(task: Task, home: Path, result: OptimizationResult, seed: int,
                   info: Tracked) -> dict[str, Any] | None:
    from honed.lifecycle.promote import ensure_registered, gate_tags, register_candidate

    data = result.to_dict()
    scores = {"honed.run_id": result.run_id, "val_score": data["best"]["val"]["score"],
              "test_score": (data["best"]["test"] or {}).get("score"),
              "test_diff": data["test_diff"]["diff"] if data["test_diff"] else None}
    gates = _gate_best(task, result, seed, info)
    if gates is not None:
        scores |= gate_tags(gates.outcome, gates.blocked)
    try:
        registry = registry_for(task, home)
        ensure_registered(registry, task)
        version = register_candidate(registry, task.name, result.best_val.candidate, scores)
    except Exception as exc:
        info.warnings.append(f"prompt registry: {type(exc).__name__}: {exc}")
        return None
    registered: dict[str, Any] = {"name": version.name, "version": version.version,
                                  "alias": "candidate"}
    if gates is not None:
        registered |= {"gate": gates.outcome, "blocked": gates.blocked}
    return registered


def _gate_best(task: Task, result: OptimizationResult, seed: int,
               info: Tracked) -> GateReport | None:
    """The task's gates on the best prompt's test evaluation; None without gates or test."""
    if not task.gates:
        return None
    if result.best_test is None:
        info.warnings.append("gates not checked: the run has no test evaluation")
        return None
    try:
        validate_gates(task, task.gates)
    except ConfigError as exc:
        info.warnings.append(f"gates not checked: {exc}")
        return None
    baseline = None if result.seed_test is None else _report(result.seed_test, seed)
    return check_report(_report(result.best_test, seed), task.gates, production=baseline,
                        seed=seed)


def _report(scored: Scored, seed: int) -> EvalReport:
    return EvalReport(scored.candidate, scored.split, scored.results,
                      summarize(scored.results, seed=seed), CallStats(), 0.0)
