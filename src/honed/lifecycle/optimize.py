"""The optimize flow: the one path every entry point takes (CLI, Python API, ``bench``).

validate -> one run row -> seed on val -> search -> seed and best on held-out test -> finish the
run row -> (publish) MLflow, the registry and the task's gates -> (write_output) the optimized
task file, through ``apply``'s writer (validated, a backup of any file it replaces).

Splits: train for proposals and demos, val for selection, test evaluated once at the end for the
seed and the best only. Calls for that final test evaluation are reserved from ``max_calls`` up
front, so the whole run never exceeds the limit. Everything the run does goes out as events: the
run store, MLflow and the terminal subscribe to them.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Iterable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field

from honed.engine.service import search_limits, spend_reserve, test_reserve
from honed.engine.session import honed_home
from honed.errors import ConfigError
from honed.lifecycle.judges.reference import resolve_judges
from honed.lifecycle.registries import open_registry
from honed.lifecycle.search import SearchRun, run_search
from honed.optimizers.registry import NEEDS_DEMO_TARGET, NEEDS_REFLECTION, build_optimizer
from honed.optimizers.result import OptimizationResult
from honed.optimizers.session import SearchOptions, open_search
from honed.providers.base import Model
from honed.task.config import load_splits
from honed.task.dataset import Splits
from honed.task.leakage import LeakageReport, check_leakage, drop_leaked
from honed.task.task import Task
from honed.tracking.events import Callback, Emitter, Message
from honed.tracking.locks import hold_run, release_run
from honed.tracking.recorder import RunCheckpoints, RunRecorder
from honed.tracking.store import RunStore, new_run_id

if TYPE_CHECKING:
    from filelock import FileLock

__all__ = ["OptimizeOptions", "guard_leakage", "open_store", "optimize", "options_from_config",
           "search_limits", "spend_reserve", "test_reserve", "validate"]


class OptimizeOptions(BaseModel):
    """An optimization's settings. ``config()`` is what the run row keeps (and a resume
    restores); the flags marked "this invocation" are not part of it."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    optimizer: str = "auto"
    params: dict[str, Any] = Field(default_factory=dict, description="the optimizer's params")
    search: SearchOptions = Field(default_factory=SearchOptions)
    drop_leaked: bool = Field(False, description="drop train/val rows whose input is in test")
    resume: bool = Field(False, exclude=True, description="this invocation: continue the "
                         "latest unfinished run")
    write_output: bool = Field(True, exclude=True, description="this invocation: write "
                               "TASK.optimized.yaml")
    publish: bool = Field(False, exclude=True, description="this invocation: log to MLflow, "
                          "register the best prompt and check the task's gates (the CLI and "
                          "honed.optimize do)")

    def config(self) -> dict[str, Any]:
        return self.model_dump(mode="json")

    @property
    def home(self) -> Path:
        return self.search.home or honed_home()


def options_from_config(config: dict[str, Any], home: Path | None = None) -> OptimizeOptions:
    """The options a run row stored, for its resume (rows of older versions kept the search
    settings flat)."""
    if "search" not in config:
        flat = {k: config[k] for k in ("seed", "limits", "model", "reflection_model",
                                       "objective", "minibatch_size", "concurrency", "cache")
                if k in config}
        config = {"optimizer": config["optimizer"], "search": flat,
                  "drop_leaked": bool(config.get("drop_leaked", False))}
    options = OptimizeOptions.model_validate(config)
    search = options.search.model_copy(update={"home": home})
    return options.model_copy(update={"resume": True, "search": search})


def open_store(home: Path | None = None) -> RunStore:
    return RunStore((home or honed_home()) / "runs.sqlite")


def validate(task: Task, splits: Splits, options: OptimizeOptions,
             reflection: Model | None) -> tuple[Splits, LeakageReport]:
    """Reject bad options before a run record exists; the splits the run uses and their
    leakage report."""
    build_optimizer(options.optimizer, **options.params)  # unknown names and bad params
    if options.optimizer in NEEDS_REFLECTION and reflection is None and not (
            options.search.reflection_model or task.reflection_model):
        raise ConfigError(f"optimizer {options.optimizer!r} needs a reflection model",
                          field="--reflection-model",
                          fix="pass --reflection-model SPEC or set reflection_model: in the task")
    if options.optimizer in NEEDS_DEMO_TARGET and task.target_template() is None:
        task.demo_target_or_error()  # raises the ConfigError saying what to add
    search_limits(options.search.limits, test_reserve(task, len(splits.test)))
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


def _start_run(store: RunStore, task: Task,
               options: OptimizeOptions) -> tuple[str, OptimizeOptions, FileLock]:
    """The run row, and its lock held: a new run, or the latest unfinished one of the task on
    ``resume`` (refused while another process runs it)."""
    if options.resume:
        row = store.latest_unfinished(task.name)
        if row is None:
            raise ConfigError(f"no unfinished optimization of task {task.name!r} to resume",
                              field="--resume", fix="run without --resume")
        lock = hold_run(store.path.parent, row.id)
        store.touch(row.id)
        resumed = options_from_config(row.config, options.search.home)
        resumed = resumed.model_copy(update={"search": resumed.search.model_copy(
            update={"executor": options.search.executor})})  # where it runs: this invocation's
        return row.id, resumed.model_copy(update={"write_output": options.write_output,
                                                  "publish": options.publish}), lock
    run_id = new_run_id()
    lock = hold_run(store.path.parent, run_id)
    store.create_run(run_id, kind="optimize", task=task.name, task_path=task.source,
                     optimizer=options.optimizer, config=options.config())
    return run_id, options, lock


async def optimize(task: Task, options: OptimizeOptions | None = None, *,
                   callbacks: Iterable[Callback] = (), model: Model | None = None,
                   reflection: Model | None = None) -> OptimizationResult:
    """Optimize ``task``'s prompt and prove the gain on its held-out test split."""
    options = options or OptimizeOptions()
    task = resolve_judges(task, lambda: open_registry(options.home))  # prompt: NAME@ALIAS
    splits, report = load_splits(task), None
    if not options.resume:
        splits, report = validate(task, splits, options, reflection)
    store, lock, finished = open_store(options.search.home), None, False
    try:
        run_id, options, lock = _start_run(store, task, options)
        if report is None:  # resumed: the data may have changed since, so check it again
            splits, report = guard_leakage(task, splits, options.drop_leaked)
        if not report.clean:
            Emitter(callbacks).emit(Message(f"duplicate inputs: {report.describe()}",
                                            level="warning"))
        with _tracking(task, options) as tracker:
            listeners = [*callbacks, *([tracker] if tracker is not None else [])]
            result = await _recorded(task, splits, options, store, run_id, listeners, model,
                                     reflection)
            finished = True
            if tracker is not None:
                tracker.log_optimization(result.to_dict())
        warnings = list(tracker.errors) if tracker is not None else []
    finally:
        if lock is not None:
            release_run(lock, finished=finished)
        store.close()
    return _publish(task, options, result, warnings)


async def _recorded(task: Task, splits: Splits, options: OptimizeOptions, store: RunStore,
                    run_id: str, callbacks: list[Callback], model: Model | None,
                    reflection: Model | None) -> OptimizationResult:
    """The run between its run row's creation and its end, with the row's status kept."""
    try:
        result = await _run(task, splits, options, store, run_id, callbacks, model, reflection)
    except (KeyboardInterrupt, asyncio.CancelledError):
        store.touch(run_id, "interrupted")
        raise
    except Exception:
        store.touch(run_id, "failed")  # resumable: its evaluations are checkpointed
        raise
    store.finish_run(run_id, "finished", result.to_dict())
    return result


async def _run(task: Task, splits: Splits, options: OptimizeOptions, store: RunStore,
               run_id: str, callbacks: list[Callback], model: Model | None,
               reflection: Model | None) -> OptimizationResult:
    started = time.perf_counter()
    optimizer = build_optimizer(options.optimizer, **options.params)
    search = options.search.model_copy(update={"limits": search_limits(
        options.search.limits, test_reserve(task, len(splits.test)))})
    async with open_search(task, splits, search, callbacks=callbacks, model=model,
                           reflection=reflection,
                           checkpoints=RunCheckpoints(store, run_id)) as ctx:
        ctx.emitter.add(RunRecorder(store, run_id), required=True)
        outcome = await run_search(ctx, optimizer, SearchRun(search.limits,
                                                              options.search.limits))
        stats = {**ctx.service.stats(), "wall_s": time.perf_counter() - started,
                 "candidates": len({s.candidate.id for s in ctx.history})}
        demo_pool = dict(ctx.service.demos)
    sizes = {"train": len(splits.train), "val": len(splits.val), "test": len(splits.test)}
    result = outcome.result(run_id, options.optimizer, stats, sizes, None, options.search.seed)
    return _write_output(task, options, result, demo_pool)


def _write_output(task: Task, options: OptimizeOptions, result: OptimizationResult,
                  demo_pool: dict[str, Any]) -> OptimizationResult:
    """The optimized task file beside the task's (a problem is a warning: the run stands)."""
    if not (options.write_output and task.source and Path(task.source).exists()):
        return result
    from honed.lifecycle.apply import write_optimized

    scores = {"val": (result.seed_val.score, result.best_val.score),
              "test": (result.seed_test.score, result.best_test.score)}
    try:
        out = write_optimized(task, result.best_val.candidate, result.run_id, scores,
                              demo_rows=demo_pool)
    except ConfigError as exc:
        return replace(result, warnings=(*result.warnings, f"optimized task not written: {exc}"))
    return replace(result, output=str(out))


@contextlib.contextmanager
def _tracking(task: Task, options: OptimizeOptions) -> Iterator[Any]:
    """The MLflow tracker of a published run (None when tracking is off or not published)."""
    if not options.publish:
        yield None
        return
    from honed.lifecycle.tracked import open_run_tracker

    tracker = open_run_tracker(task, options.home, "optimize", options.config())
    if tracker is None:
        yield None
        return
    with tracker:
        yield tracker


def _publish(task: Task, options: OptimizeOptions, result: OptimizationResult,
                   warnings: list[str]) -> OptimizationResult:
    if not options.publish:
        return result
    from honed.lifecycle.publish import register_best

    registered, problems = register_best(task, options.home, result, options.search.seed)
    return replace(result, registered=registered,
                   warnings=(*result.warnings, *warnings, *problems))
