"""Eval and optimization flows with tracking and the prompt registry around them.

``honed eval`` and ``honed optimize`` call these: MLflow runs (when tracking is on), the task's
prompt auto-registered the first time it is evaluated, ``prompt: {registry: NAME@ALIAS}``
resolved (with the version's own demo rows), and every optimization's best prompt registered
under ``candidate`` with the rows of its few-shot demos (identical content: the existing
version). The registry is the ``HONED_REGISTRY`` setting (default local), whatever the task's
``tracking``.

MLflow logging stays off the critical path: under ``tracking: auto`` the run is logged by a
background process after the command returns; ``tracking: mlflow`` (or ``HONED_TRACKING_WAIT=1``)
waits until the run is in MLflow and reports failures as warnings.

A task with ``gates:`` has them checked on the best prompt's held-out test evaluation (the seed
prompt's, on the same examples, stands in for production in a regression gate). The outcome is
tagged on the registered version (``honed.gate``), and failed BLOCK_DEPLOY gates are recorded
under ``honed.blocked``, which ``honed registry promote`` refuses without ``--force``.
"""

from __future__ import annotations

import contextlib
import os
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
from honed.lifecycle.registries import open_registry
from honed.lifecycle.registry import DemoRows, PromptRegistry, require_ref
from honed.optimizers.base import Scored, describe
from honed.optimizers.result import OptimizationResult
from honed.optimizers.run import OptimizeOptions, optimize
from honed.optimizers.session import open_store
from honed.task.config import load_splits
from honed.task.task import Task
from honed.tracking.events import Callback
from honed.types import Candidate, Example


@dataclass
class Tracked:
    """What a tracked flow produced, plus tracking problems (warnings, never fatal)."""

    warnings: list[str] = field(default_factory=list)
    registered: dict[str, Any] | None = None


def registry_for(task: Task, home: Path) -> PromptRegistry:
    """The prompt registry: ``HONED_REGISTRY`` (default local), the same for every task."""
    return open_registry(home)


def registry_prompt(task: Task, home: Path,
                    ) -> tuple[Candidate, dict[str, Example]] | None:
    """The task's ``prompt.registry`` version: its candidate and its demos as examples (from
    the rows stored with the version); None when the task's prompt is its own."""
    if not task.prompt.registry:
        return None
    ref = require_ref(task.prompt.registry, "prompt.registry")
    version = registry_for(task, home).get(ref)
    demos = {d: Example(d, dict(fields)) for d, fields in version.demo_rows.items()}
    return version.candidate, demos


def demo_rows(task: Task, candidate: Candidate,
              train: Iterable[Example]) -> dict[str, dict[str, Any]]:
    """The fields of ``candidate``'s demos: from the train split, or written in the task."""
    known = {**{ex.id: ex for ex in train}, **task.demo_rows()}
    return {d: dict(known[d].fields) for d in candidate.demos if d in known}


def _tracker(task: Task, home: Path, kind: str, params: dict[str, Any]) -> Any:
    from honed.tracking.mlflow import WAIT_ENV, open_tracker

    background = task.tracking == "auto" and os.environ.get(WAIT_ENV) != "1"
    return open_tracker(task, home, kind, params=params, background=background)


async def tracked_eval(task: Task, *, home: Path, split: str, limit: int | None,
                       options: EngineOptions, callbacks: Iterable[Callback] = (),
                       ) -> tuple[EvalRun, Tracked]:
    info = Tracked()
    from_registry = registry_prompt(task, home)
    candidate, demos = from_registry or (None, {})
    params = {"split": split, "limit": limit, "model": options.model or task.model.spec,
              "limits": asdict(options.limits), "cache": options.cache}
    tracker = _tracker(task, home, "eval", params)
    with tracker or contextlib.nullcontext():
        run = await evaluate_task(task, split=split, limit=limit, options=options,
                                  callbacks=[*callbacks, *([tracker] if tracker else [])],
                                  candidate=candidate, demos=demos)
        if tracker is not None:
            tracker.log_eval(run.to_dict(), [r.to_dict() for r in run.report.results],
                             prompt=describe(run.report.candidate))
    if tracker is not None:
        info.warnings.extend(tracker.errors)
    if candidate is None and tracker is not None:
        rows = demo_rows(task, task.seed_candidate(), run.splits.train)
        info.registered = _ensure_registered(task, home, info, rows)
    return run, info


def _ensure_registered(task: Task, home: Path, info: Tracked,
                       rows: DemoRows) -> dict[str, Any] | None:
    from honed.lifecycle.promote import ensure_registered

    try:
        version = ensure_registered(registry_for(task, home), task, demo_rows=rows)
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
    val, test = data["best"]["val"], data["best"]["test"] or {}
    scores = {"honed.run_id": result.run_id, "val_score": val["score"], "val_n": val["n"],
              "val_errors": val["errors"], "test_score": test.get("score"),
              "test_n": test.get("n"), "test_errors": test.get("errors"),
              "test_diff": data["test_diff"]["diff"] if data["test_diff"] else None}
    gates = _gate_best(task, result, seed, info)
    if gates is not None:
        scores |= gate_tags(gates.outcome, gates.blocked)
    best = result.best_val.candidate
    try:
        train = load_splits(task).train
        registry = registry_for(task, home)
        ensure_registered(registry, task, demo_rows=demo_rows(task, task.seed_candidate(), train))
        version = register_candidate(registry, task.name, best, scores,
                                     demo_rows=demo_rows(task, best, train))
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
