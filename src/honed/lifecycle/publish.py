"""Publish an optimization: register its best prompt (under ``candidate``, with the rows of its
few-shot demos; identical content is the existing version) and check the task's gates on the
best prompt's held-out test evaluation (the seed prompt's, on the same examples, stands in for
production in a regression gate). The gate outcome is tagged on the registered version
(``honed.gate``); failed BLOCK_DEPLOY gates are recorded under ``honed.blocked``, which
``honed registry promote`` refuses without ``--force``.

Publishing never fails a run: problems come back as warnings.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from honed.engine.client import CallStats
from honed.engine.results import summarize
from honed.engine.runner import EvalReport
from honed.errors import ConfigError
from honed.lifecycle.gates import GateReport, check_report, validate_gates
from honed.lifecycle.registry import DEMO_TARGET_TAG, MODEL_TAG
from honed.lifecycle.tracked import demo_rows, registry_for
from honed.optimizers.base import Scored
from honed.optimizers.result import OptimizationResult
from honed.task.config import load_splits
from honed.task.task import Task


def register_best(task: Task, home: Path, result: OptimizationResult,
                  seed: int) -> tuple[dict[str, Any] | None, list[str]]:
    """The registered version (with its gate outcome) and the warnings."""
    from honed.lifecycle.promote import ensure_registered, gate_tags, register_candidate

    warnings: list[str] = []
    scores = _scores(task, result)
    gates = _gate_best(task, result, seed, warnings)
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
        return None, [*warnings, f"prompt registry: {type(exc).__name__}: {exc}"]
    registered: dict[str, Any] = {"name": version.name, "version": version.version,
                                  "alias": "candidate"}
    if gates is not None:
        registered |= {"gate": gates.outcome, "blocked": gates.blocked}
    return registered, warnings


def _scores(task: Task, result: OptimizationResult) -> dict[str, Any]:
    data = result.to_dict()
    val, test = data["best"]["val"], data["best"]["test"] or {}
    return {"honed.run_id": result.run_id, "val_score": val["score"], "val_n": val["n"],
            "val_errors": val["errors"], "test_score": test.get("score"),
            "test_n": test.get("n"), "test_errors": test.get("errors"),
            "test_diff": data["test_diff"]["diff"] if data["test_diff"] else None,
            DEMO_TARGET_TAG: task.target_template(), MODEL_TAG: task.model.spec}


def _gate_best(task: Task, result: OptimizationResult, seed: int,
               warnings: list[str]) -> GateReport | None:
    """The task's gates on the best prompt's test evaluation; None without gates or test."""
    if not task.gates:
        return None
    if result.best_test is None:
        warnings.append("gates not checked: the run has no test evaluation")
        return None
    try:
        validate_gates(task, task.gates)
    except ConfigError as exc:
        warnings.append(f"gates not checked: {exc}")
        return None
    baseline = None if result.seed_test is None else _report(result.seed_test, seed)
    return check_report(_report(result.best_test, seed), task.gates, production=baseline,
                        seed=seed)


def _report(scored: Scored, seed: int) -> EvalReport:
    return EvalReport(scored.candidate, scored.split, scored.results,
                      summarize(scored.results, seed=seed), CallStats(), 0.0)
