"""The Python API: evaluate and optimize a task, and use an optimized prompt in an application.

Everything returns typed results and prints nothing. ``evaluate`` and ``optimize`` run the same
flows as ``honed eval`` and ``honed optimize``; ``evaluate_async`` / ``optimize_async`` are for
code that already runs an event loop (a notebook, a web server).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from honed.engine.budget import Limits
from honed.engine.evaluate import EvalRun, evaluate_task
from honed.engine.session import EngineOptions
from honed.lifecycle.judges.reference import with_judges
from honed.lifecycle.optimize import OptimizeOptions
from honed.lifecycle.optimize import optimize as optimize_flow
from honed.lifecycle.prompt import Prompt, load_prompt
from honed.optimizers.result import OptimizationResult
from honed.optimizers.session import SearchOptions
from honed.task.config import load_task
from honed.task.task import Task
from honed.tracking.events import Callback

__all__ = ["Prompt", "evaluate", "evaluate_async", "load_prompt", "load_task", "optimize",
           "optimize_async"]

TaskLike = Task | str | Path


def _task(task: TaskLike) -> Task:
    return task if isinstance(task, Task) else load_task(task)


def _executor(text: str | None) -> str | None:
    """``executor=``, checked before any work starts (a bad spec, or Ray not installed)."""
    if text is not None:
        from honed.engine.executors import check_executor

        check_executor(text, field="executor")
    return text


async def evaluate_async(task: TaskLike, *, split: str = "test", limit: int | None = None,
                         model: str | None = None, concurrency: int | None = None,
                         cache: bool = True, max_calls: int | None = None,
                         max_tokens: int | None = None, max_cost: float | None = None,
                         home: str | Path | None = None,
                         callbacks: Iterable[Callback] = (),
                         executor: str | None = None) -> EvalRun:
    """Score the task's prompt on a split (``run.report.summary``: score, n, CI, errors).
    ``executor`` is where model calls run: ``local``, ``ray`` or ``ray:ADDRESS`` (default:
    the task's ``executor:``, else local)."""
    options = EngineOptions(model=model, concurrency=concurrency, cache=cache,
                            limits=Limits.of(max_calls, max_tokens, max_cost),
                            home=Path(home) if home is not None else None,
                            executor=_executor(executor))
    return await evaluate_task(with_judges(_task(task), options), split=split, limit=limit,
                               options=options, callbacks=callbacks)


def evaluate(task: TaskLike, **kwargs: Any) -> EvalRun:
    """``evaluate_async`` run to completion (see it for the arguments)."""
    return asyncio.run(evaluate_async(task, **kwargs))


async def optimize_async(task: TaskLike, optimizer: str = "auto", *,
                         params: Mapping[str, Any] | None = None,
                         max_calls: int | None = None, max_tokens: int | None = None,
                         max_cost: float | None = None, max_minutes: float | None = None,
                         seed: int = 0, model: str | None = None,
                         reflection_model: str | None = None, concurrency: int | None = None,
                         cache: bool = True, resume: bool = False, drop_leaked: bool = False,
                         write_output: bool = False, publish: bool = True,
                         home: str | Path | None = None,
                         callbacks: Iterable[Callback] = (),
                         executor: str | None = None) -> OptimizationResult:
    """Optimize the task's prompt within the budget and prove it on held-out test.

    ``publish`` (default on, as in the CLI) logs the run to MLflow when tracking is on and
    registers the best prompt under ``NAME@candidate`` (``load_prompt`` reads it);
    ``write_output`` also writes ``TASK.optimized.yaml`` beside the task file. ``executor``
    is where model calls run (see ``evaluate_async``); the result is the same either way.
    """
    search = SearchOptions(seed=seed, limits=Limits.of(max_calls, max_tokens, max_cost,
                                                       max_minutes),
                           model=model, reflection_model=reflection_model,
                           concurrency=concurrency, cache=cache,
                           home=Path(home) if home is not None else None,
                           executor=_executor(executor))
    options = OptimizeOptions(optimizer=optimizer, params=dict(params or {}), search=search,
                              resume=resume, drop_leaked=drop_leaked,
                              write_output=write_output, publish=publish)
    return await optimize_flow(_task(task), options, callbacks=callbacks)


def optimize(task: TaskLike, optimizer: str = "auto", **kwargs: Any) -> OptimizationResult:
    """``optimize_async`` run to completion (see it for the arguments)."""
    return asyncio.run(optimize_async(task, optimizer, **kwargs))
