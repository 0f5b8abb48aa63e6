"""``honed sweep``: many optimizations (task x model x optimizer x seed), locally or as Ray tasks.

A sweep file::

    name: emotions                      # default: the file's name
    tasks: [emotion/task.yaml, intent/task.yaml]    # relative to the sweep file
    models: [fake, openai:gpt-4o-mini]  # default: each task's own model
    optimizers: [mutate, {name: bayes, n_trials: 20}]   # a name, or a name and parameters
    seeds: [0, 1, 2]
    budget: {max_calls: 300}            # per run: max_calls, max_tokens, max_cost, max_minutes
    concurrency: 8                      # calls in flight per run (default: the model's)
    executor: ray:auto                  # where runs go (default local); --executor wins
    out: sweep-out                      # relative to the sweep file; --out wins

Every run is an ordinary optimization (``lifecycle.optimize``, unpublished) in a state folder
of its own, ``OUT/runs/KEY/home``, where ``KEY`` hashes the run's settings. Its result is written
to ``OUT/runs/KEY.json`` as soon as it finishes, so a sweep is resumable: a run whose result is
there is not run again, and one that was interrupted resumes from its checkpoints. With a ``ray``
executor each run is a Ray task (one CPU each, or ``ray?cpus=C``) whose model calls run inside
that task; the result is the same as a local run's. The end is ``OUT/sweep.json``: every run,
and a summary per task, model and optimizer over the seeds.
"""

from __future__ import annotations

import asyncio
import functools
import json
import os
import statistics
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from honed.engine.budget import Limits
from honed.engine.executors import ExecutorSpec, check_executor
from honed.errors import ConfigError
from honed.task.optimizer_spec import OptimizerConfig
from honed.tracking.events import Callback, Message
from honed.types import content_hash


class Budget(BaseModel):
    """Each run's budget (the flags of ``honed optimize``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    max_calls: int | None = Field(None, gt=0)
    max_tokens: int | None = Field(None, gt=0)
    max_cost: float | None = Field(None, ge=0)
    max_minutes: float | None = Field(None, gt=0)

    def limits(self) -> Limits:
        return Limits.of(self.max_calls, self.max_tokens, self.max_cost, self.max_minutes)


class SweepSpec(BaseModel):
    """A sweep file, validated (see the module docstring)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    name: str | None = None
    tasks: list[str] = Field(min_length=1)
    models: list[str | None] = Field(default_factory=lambda: [None])
    optimizers: list[OptimizerConfig] = Field(
        default_factory=lambda: [OptimizerConfig(name="auto")], min_length=1)
    seeds: list[int] = Field(default_factory=lambda: [0], min_length=1)
    budget: Budget = Field(default_factory=Budget)
    concurrency: int | None = Field(None, gt=0)
    executor: str | None = None
    out: str = "sweep-out"


@dataclass(frozen=True)
class SweepRun:
    """One cell of the grid."""

    task: str  # the task file's absolute path
    task_name: str
    model: str | None
    optimizer: str
    params: dict[str, Any]
    seed: int
    settings: dict[str, Any] = field(default_factory=dict)  # budget and concurrency
    model_label: str = ""  # the model it runs: ``model``, else the task's (not in the key)

    @property
    def key(self) -> str:
        return content_hash([self.task, self.model, self.optimizer, self.params, self.seed,
                             self.settings], 12)

    def label(self) -> str:
        return f"{self.task_name} · {self.model_label or self.model} · {self.optimizer} · " \
               f"seed {self.seed}"


@dataclass(frozen=True)
class Sweep:
    name: str
    source: Path
    spec: SweepSpec
    runs: tuple[SweepRun, ...]
    out: Path

    def result_path(self, run: SweepRun) -> Path:
        return self.out / "runs" / f"{run.key}.json"

    def payload(self, run: SweepRun) -> dict[str, Any]:
        """What a worker needs to run ``run`` (plain JSON: it may go to another machine)."""
        return {"key": run.key, "task": run.task, "model": run.model,
                "optimizer": run.optimizer, "params": run.params, "seed": run.seed,
                "budget": self.spec.budget.model_dump(), "concurrency": self.spec.concurrency,
                "home": str(self.out / "runs" / run.key / "home")}


def load_sweep(path: str | Path, out: Path | None = None) -> Sweep:
    """Read and validate a sweep file, load every task it names and check every run's
    options, before anything runs."""
    from honed.task.config import read_yaml, validation_error

    path = Path(path)
    if not path.is_file():
        raise ConfigError("sweep file not found", file=str(path),
                          fix="give the path of a sweep YAML (tasks:, optimizers:, seeds:)")
    doc = read_yaml(path)
    if not isinstance(doc, dict):
        raise ConfigError("a sweep file must be a YAML mapping", file=str(path),
                          fix="give at least tasks: [TASK.yaml]")
    try:
        spec = SweepSpec.model_validate(_plain(doc))
    except ValidationError as exc:
        raise validation_error(exc, str(path), doc, root=SweepSpec) from None
    if spec.executor is not None:
        check_executor(spec.executor, field="executor", file=str(path))
    base = path.resolve().parent
    runs = tuple({run.key: run for run in _grid(spec, base, str(path))}.values())  # once each
    target = out if out is not None else base / spec.out
    return Sweep(spec.name or path.stem, path, spec, runs, target.resolve())


def _plain(node: Any) -> Any:
    """The YAML document as plain containers (the round-trip loader keeps comments)."""
    if isinstance(node, dict):
        return {str(k): _plain(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_plain(v) for v in node]
    return node


def _grid(spec: SweepSpec, base: Path, source: str) -> Iterator[SweepRun]:
    from honed.lifecycle.optimize import OptimizeOptions, validate
    from honed.optimizers.session import SearchOptions
    from honed.task.config import load_splits, load_task
    from honed.task.task import FIX, spec_problem

    settings = {"budget": spec.budget.model_dump(), "concurrency": spec.concurrency}
    for index, model in enumerate(spec.models):
        problem = spec_problem(model) if model is not None else None
        if problem:
            message, _, fix = problem.partition(FIX)
            raise ConfigError(message, file=source, field=f"models[{index}]", fix=fix or None)
    for index, name in enumerate(spec.tasks):
        file = base / name
        if not file.exists():
            raise ConfigError(f"task file {name!r} not found", file=source,
                              field=f"tasks[{index}]", fix="paths are relative to the sweep "
                                                           "file")
        task = load_task(file)
        splits = load_splits(task)
        for model in spec.models:
            for opt in spec.optimizers:
                search = SearchOptions(model=model, limits=spec.budget.limits())
                validate(task, splits, OptimizeOptions(optimizer=opt.name, params=opt.params(),
                                                       search=search), None)
                for seed in spec.seeds:
                    yield SweepRun(str(file.resolve()), task.name, model, opt.name,
                                   opt.params(), seed, settings, model or task.model.spec)


# running one run (in this process or in a Ray task) ------------------------------------------
def run_payload(payload: dict[str, Any]) -> dict[str, Any]:
    """Run one optimization of a sweep; resume it if its state folder holds an unfinished run.
    Module-level and plain-data in, plain-data out, so a Ray task can run it anywhere."""
    if os.environ.get("HONED_FORBID_NETWORK") == "1":  # a process entry point on a worker
        from honed.testing import block_network

        block_network()
    from honed.lifecycle.optimize import OptimizeOptions, open_store, optimize
    from honed.optimizers.session import SearchOptions
    from honed.task.config import load_task

    task = load_task(payload["task"])
    home = Path(payload["home"])
    store = open_store(home)
    try:
        resume = store.latest_unfinished(task.name) is not None
    finally:
        store.close()
    search = SearchOptions(seed=payload["seed"], model=payload["model"],
                           limits=Budget(**payload["budget"]).limits(),
                           concurrency=payload["concurrency"], home=home)
    options = OptimizeOptions(optimizer=payload["optimizer"], params=payload["params"],
                              search=search, resume=resume, write_output=False, publish=False)
    started = time.perf_counter()
    result = asyncio.run(optimize(task, options)).to_dict()
    return {"status": "finished", "resumed": resume, "result": result,
            "wall_s": time.perf_counter() - started, "home": str(home)}


# the sweep -----------------------------------------------------------------------------------
def run_sweep(sweep: Sweep, *, executor: str | None = None,
              callbacks: Iterable[Callback] = ()) -> dict[str, Any]:
    """Run every run of ``sweep`` not already finished (``executor`` overrides the file's),
    write ``OUT/sweep.json`` and return its content."""
    field_name = "--executor" if executor is not None else "executor"
    text = executor if executor is not None else sweep.spec.executor
    spec = check_executor(text, field=field_name,
                          file=None if executor is not None else str(sweep.source))
    notify = _notifier(callbacks)
    (sweep.out / "runs").mkdir(parents=True, exist_ok=True)
    records: dict[str, dict[str, Any]] = {}
    todo = []
    for run in sweep.runs:
        done = _finished(sweep.result_path(run))
        if done is not None:
            records[run.key] = {**done, "status": "reused"}
        else:
            todo.append(run)
    notify(f"{len(sweep.runs)} runs: {len(records)} already finished, {len(todo)} to run "
           f"({spec})")
    runner = _run_here if spec.local else functools.partial(_run_on_ray, field=field_name)
    for run, record in runner(sweep, todo, spec):
        records[run.key] = record
        if record["status"] == "finished":
            _write(sweep.result_path(run), record)
        notify(_progress(run, record, len(records), len(sweep.runs)))
    return _report(sweep, str(spec), records)


def _notifier(callbacks: Iterable[Callback]) -> Callable[[str], None]:
    listeners = list(callbacks)

    def notify(text: str) -> None:
        for listener in listeners:
            listener(Message(text))

    return notify


def _finished(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and data.get("status") == "finished" else None


def _write(path: Path, record: dict[str, Any]) -> None:
    """Atomically, so an interrupted sweep never leaves half a result behind."""
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(record, indent=2, default=str) + "\n", encoding="utf-8")
    tmp.replace(path)


def _failed(exc: BaseException) -> dict[str, Any]:
    cause = getattr(exc, "cause", None) or exc  # a Ray task's error wraps the run's
    return {"status": "failed", "error": f"{type(cause).__name__}: {cause}"}


def _run_here(sweep: Sweep, todo: list[SweepRun],
              spec: ExecutorSpec) -> Iterator[tuple[SweepRun, dict[str, Any]]]:
    for run in todo:
        try:
            record = run_payload(sweep.payload(run))
        except Exception as exc:  # one run's failure is recorded; the sweep goes on
            record = _failed(exc)
        yield run, record


def _run_on_ray(sweep: Sweep, todo: list[SweepRun], spec: ExecutorSpec, *,
                field: str = "--executor") -> Iterator[tuple[SweepRun, dict[str, Any]]]:
    """Every run as a Ray task; results are collected as they finish."""
    from honed.engine.executors.ray import connect

    ray = connect(spec.address, field)
    task = ray.remote(run_payload).options(num_cpus=spec.cpus or 1)
    pending = {task.remote(sweep.payload(run)): run for run in todo}
    try:
        while pending:
            ready, _ = ray.wait(list(pending), num_returns=1)
            run = pending.pop(ready[0])
            try:
                record = ray.get(ready[0])
            except Exception as exc:
                record = _failed(exc)
            yield run, record
    finally:
        for ref in pending:  # interrupted: stop what is still running (it resumes next time)
            ray.cancel(ref, force=True)


def _progress(run: SweepRun, record: dict[str, Any], done: int, total: int) -> str:
    if record["status"] != "finished":
        return f"[{done}/{total}] {run.label()}: failed: {record.get('error')}"
    best = (record["result"]["best"].get("test") or {}).get("score")
    score = "-" if best is None else f"{best:.3f}"
    return f"[{done}/{total}] {run.label()}: best test {score} ({record['wall_s']:.1f}s)"


def _row(sweep: Sweep, run: SweepRun, record: dict[str, Any]) -> dict[str, Any]:
    result = record.get("result") or {}
    seed, best = result.get("seed") or {}, result.get("best") or {}
    return {"key": run.key, "task": run.task_name, "model": run.model_label,
            "optimizer": run.optimizer, "seed": run.seed, "status": record["status"],
            "error": record.get("error"), "seed_test": (seed.get("test") or {}).get("score"),
            "best_test": (best.get("test") or {}).get("score"),
            "best_val": (best.get("val") or {}).get("score"), "test_diff": result.get(
                "test_diff"), "calls": result.get("calls"), "cost_usd": result.get("cost_usd"),
            "wall_s": record.get("wall_s"), "run_id": result.get("run_id"),
            "home": record.get("home"), "result_file": str(sweep.result_path(run))}


def summarize(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One line per task, model and optimizer: the finished seeds' test scores."""
    groups: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
    for row in rows:
        groups.setdefault((row["task"], row["model"], row["optimizer"]), []).append(row)
    out = []
    for (task, model, optimizer), mine in groups.items():
        done = [r for r in mine if r["status"] != "failed" and r["best_test"] is not None]
        best = [float(r["best_test"]) for r in done]
        diffs = [float(r["test_diff"]["diff"]) for r in done if r["test_diff"]]
        out.append({"task": task, "model": model, "optimizer": optimizer,
                    "runs": len(mine), "failed": len(mine) - len(done),
                    "seed_test": done[0]["seed_test"] if done else None,
                    "best_test_mean": statistics.fmean(best) if best else None,
                    "best_test_sd": statistics.stdev(best) if len(best) > 1 else 0.0,
                    "diff_mean": statistics.fmean(diffs) if diffs else None,
                    "calls": sum(int(r["calls"] or 0) for r in done),
                    "cost_usd": sum(float(r["cost_usd"] or 0) for r in done)})
    return out


def _report(sweep: Sweep, executor: str, records: dict[str, dict[str, Any]]) -> dict[str, Any]:
    rows = [_row(sweep, run, records[run.key]) for run in sweep.runs if run.key in records]
    counts = {status: sum(r["status"] == status for r in rows)
              for status in ("finished", "reused", "failed")}
    report = {"name": sweep.name, "sweep": str(sweep.source), "executor": executor,
              "out": str(sweep.out), **counts, "summary": summarize(rows), "runs": rows,
              "json": str(sweep.out / "sweep.json")}
    _write(sweep.out / "sweep.json", report)
    return report
