"""The eval flow with tracking and the prompt registry around it (the optimize flow is
``lifecycle.optimize``; publishing its result is ``lifecycle.publish``).

``honed eval`` calls it: an MLflow run (when tracking is on), the task's prompt auto-registered
the first time it is evaluated, ``prompt: {registry: NAME@ALIAS}`` resolved (with the version's
own demo rows). The registry is the ``HONED_REGISTRY`` setting (default local), whatever the
task's ``tracking``.

MLflow logging stays off the critical path: under ``tracking: auto`` the run is logged by a
background process after the command returns; ``tracking: mlflow`` (or ``HONED_TRACKING_WAIT=1``)
waits until the run is in MLflow and reports failures as warnings.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from honed.engine.evaluate import EvalRun, evaluate_task
from honed.engine.session import EngineOptions
from honed.lifecycle.judges.reference import resolve_judges
from honed.lifecycle.registries import open_registry
from honed.lifecycle.registry import DemoRows, PromptRegistry, require_ref
from honed.optimizers.base import describe
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


def open_run_tracker(task: Task, home: Path, kind: str, params: dict[str, Any]) -> Any:
    """The MLflow tracker of an eval or optimize run (None when tracking is off); under
    ``tracking: auto`` it logs in the background unless ``HONED_TRACKING_WAIT=1``."""
    from honed.tracking.mlflow import WAIT_ENV, open_tracker

    background = task.tracking == "auto" and os.environ.get(WAIT_ENV) != "1"
    return open_tracker(task, home, kind, params=params, background=background)


async def tracked_eval(task: Task, *, home: Path, split: str, limit: int | None,
                       options: EngineOptions, callbacks: Iterable[Callback] = (),
                       ) -> tuple[EvalRun, Tracked]:
    info = Tracked()
    task = resolve_judges(task, lambda: open_registry(home))  # llm_judge prompt: NAME@ALIAS
    from_registry = registry_prompt(task, home)
    candidate, demos = from_registry or (None, {})
    params = {"split": split, "limit": limit, "model": options.model or task.model.spec,
              "limits": asdict(options.limits), "cache": options.cache}
    tracker = open_run_tracker(task, home, "eval", params)
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
