"""``honed optimize``: search for a better prompt within a budget; ``honed runs``: inspect runs."""

from __future__ import annotations

from typing import Annotated

import typer

from honed.cli.options import (
    ConcurrencyOpt,
    ExecutorOpt,
    JsonOpt,
    MaxCallsOpt,
    MaxCostOpt,
    MaxMinutesOpt,
    MaxTokensOpt,
    ModelOpt,
    NoCacheOpt,
    TaskArg,
)

OptimizerOpt = Annotated[str | None, typer.Option(
    "--optimizer", "-o", help="auto (default), mutate, fewshot, bayes, reflective, pareto, a "
                              "plugin's; see honed optimizers. Default: the task's optimizer:")]
ParamOpt = Annotated[list[str] | None, typer.Option(
    "--param", "-p", help="an optimizer parameter, KEY=VALUE (repeatable; see honed optimizers)")]


def optimize_command(
    task: TaskArg,
    optimizer: OptimizerOpt = None,
    param: ParamOpt = None,
    reflection_model: Annotated[str | None, typer.Option(
        help="a capable model that rewrites prompts, e.g. openai:gpt-4.1-mini")] = None,
    model: ModelOpt = None,
    max_calls: MaxCallsOpt = None,
    max_tokens: MaxTokensOpt = None,
    max_cost: MaxCostOpt = None,
    max_minutes: MaxMinutesOpt = None,
    seed: Annotated[int, typer.Option(help="same seed, same result")] = 0,
    minibatch: Annotated[int, typer.Option(min=1, help="train minibatch size")] = 16,
    length_penalty: Annotated[float, typer.Option(
        min=0, help="score points lost per 1000 prompt tokens")] = 0.0,
    max_prompt_tokens: Annotated[int | None, typer.Option(
        min=1, help="reject prompts longer than this")] = None,
    concurrency: ConcurrencyOpt = None,
    executor: ExecutorOpt = None,
    no_cache: NoCacheOpt = False,
    resume: Annotated[bool, typer.Option(
        "--resume", help="continue the latest unfinished run of this task")] = False,
    drop_leaked: Annotated[bool, typer.Option(
        "--drop-leaked", help="drop train/val rows whose input is also in test (test stays)")
    ] = False,
    dry_run: Annotated[bool, typer.Option(
        "--dry-run", help="print the plan and an estimated call/cost range; call nothing")
    ] = False,
    json_output: JsonOpt = False,
) -> None:
    """Optimize the task's prompt; prove the gain on held-out test; write TASK.optimized.yaml."""
    from honed.cli import render
    from honed.cli.options import executor as checked_executor
    from honed.cli.options import limits as budget_limits
    from honed.optimizers.base import Objective
    from honed.optimizers.session import SearchOptions
    from honed.task.config import load_task

    loaded = load_task(task)
    search = SearchOptions(seed=seed, limits=budget_limits(max_calls, max_tokens, max_cost,
                                                           max_minutes),
                           model=model, reflection_model=reflection_model,
                           objective=Objective(length_penalty, 0.0, max_prompt_tokens),
                           minibatch_size=minibatch, concurrency=concurrency,
                           cache=not no_cache, executor=checked_executor(executor))
    options = _options(loaded, optimizer, param or [], search, resume=resume,
                       drop_leaked=drop_leaked, publish=True)
    if dry_run:
        from honed.lifecycle.plan import plan

        data = plan(loaded, options)
        render.json_out(data) if json_output else render.plan(data)
        return
    result = _run(loaded, options, show=not json_output and render.interactive(),
                  total=max_calls)
    render.json_out(result) if json_output else render.optimize_summary(result)


def _options(task, optimizer, params, search, **flags):  # type: ignore[no-untyped-def]
    """The run's options: ``--optimizer`` else the task's ``optimizer:`` (else auto); the
    task's parameters for that optimizer, then ``--param`` on top."""
    from honed.lifecycle.optimize import OptimizeOptions
    from honed.optimizers.registry import parse_params

    configured = task.optimizer
    name = optimizer or (configured.name if configured else "auto")
    base = configured.params() if configured and configured.name == name else {}
    return OptimizeOptions(optimizer=name, params={**base, **parse_params(params)},
                           search=search, **flags)


def _run(task, options, *, show: bool, total: int | None):  # type: ignore[no-untyped-def]
    import asyncio
    import contextlib

    from honed.cli import render
    from honed.lifecycle.optimize import optimize

    progress = render.SearchProgress(total) if show else None
    with progress or contextlib.nullcontext():
        callbacks = [render.warnings, *([progress] if progress else [])]
        result = asyncio.run(optimize(task, options, callbacks=callbacks))
    return result.to_dict()


def runs_list(
    task: Annotated[str | None, typer.Option(help="only runs of this task name")] = None,
    limit: Annotated[int, typer.Option(min=1)] = 20,
    json_output: JsonOpt = False,
) -> None:
    """List past runs, newest first."""
    from honed.cli import render
    from honed.lifecycle.optimize import open_store

    store = open_store()
    rows = [{"run_id": r.id, "task": r.task, "optimizer": r.optimizer, "status": r.status,
             "created": r.created,
             "best_test": ((r.result or {}).get("best") or {}).get("test")}
            for r in store.runs(task, limit)]
    store.close()
    render.json_out(rows) if json_output else render.runs_table(rows)


def runs_show(run_id: Annotated[str, typer.Argument(
                  help="run id, a unique prefix of one, or latest")],
              json_output: JsonOpt = False) -> None:
    """Show one run: result, trajectory and candidates."""
    from honed.cli import render
    from honed.errors import ConfigError
    from honed.lifecycle.optimize import open_store
    from honed.tracking.run_ids import resolve_run

    store = open_store()
    try:
        row = resolve_run(store, run_id)
        if row is None:
            raise ConfigError(f"no run {run_id!r}", field="RUN_ID", fix="honed runs list")
        data = {"run_id": row.id, "task": row.task, "status": row.status, "config": row.config,
                "result": row.result, "trajectory": store.steps(row.id),
                "candidates": store.candidates(row.id)}
    finally:
        store.close()
    render.json_out(data) if json_output else render.run_detail(data)
