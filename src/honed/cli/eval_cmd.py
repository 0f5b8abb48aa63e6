"""``honed eval``: measure a prompt on a split."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Annotated, Any

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


def eval_command(
    task: TaskArg,
    split: Annotated[str, typer.Option(help="test, val, train or all")] = "test",
    model: ModelOpt = None,
    concurrency: ConcurrencyOpt = None,
    limit: Annotated[int | None, typer.Option(min=1, help="first N examples only")] = None,
    no_cache: NoCacheOpt = False,
    max_calls: MaxCallsOpt = None,
    max_tokens: MaxTokensOpt = None,
    max_cost: MaxCostOpt = None,
    max_minutes: MaxMinutesOpt = None,
    executor: ExecutorOpt = None,
    output: Annotated[Path | None, typer.Option(
        "--output", help="also write every example's inputs, output, scores and eval feedback "
                         "to FILE (.jsonl, .json or .csv)", show_default=False)] = None,
    json_output: JsonOpt = False,
) -> None:
    """Evaluate the task's prompt on a split, with a 95% CI, cost and latency."""
    import asyncio

    from honed.cli import render
    from honed.cli.options import executor as checked_executor
    from honed.cli.options import limits as budget_limits
    from honed.engine.session import EngineOptions, honed_home
    from honed.errors import ConfigError
    from honed.lifecycle.tracked import tracked_eval
    from honed.task.config import load_task

    if split not in ("test", "val", "train", "all"):
        raise ConfigError(f"unknown split {split!r}", field="--split",
                          fix="use test, val, train or all")
    if output is not None:
        from honed.lifecycle.results_file import check_output

        check_output(output)  # before any call: a bad path must not waste the evaluation
    loaded = load_task(task)
    limits = budget_limits(max_calls, max_tokens, max_cost, max_minutes)
    options = EngineOptions(model=model, concurrency=concurrency, cache=not no_cache,
                            limits=limits, executor=checked_executor(executor))
    show = not json_output and render.interactive()
    progress = render.Progress() if show else None
    with progress or contextlib.nullcontext():
        run, info = asyncio.run(tracked_eval(
            loaded, home=honed_home(), split=split, limit=limit, options=options,
            callbacks=[render.warnings, *([progress] if progress else [])]))
    data = {**run.to_dict(), "registered": info.registered, "warnings": info.warnings}
    if output is not None:
        from honed.lifecycle.results_file import write_results

        data["output_file"] = str(write_results(output, run.rows()))
    if json_output:
        render.json_out(data)
    else:
        render.eval_summary(data)
    if data["errors"] and data["errors"] == data["n"]:
        raise_all_failed(data)


def raise_all_failed(data: dict[str, Any]) -> None:
    """Every attempted example failed: a systemic failure (exit 1), with the counts."""
    from honed.errors import ProviderError

    reasons = ", ".join(f"{k} x{v}" for k, v in data["retry_reasons"].items())
    first = data["error_examples"][0]["error"] if data["error_examples"] else "?"
    raise ProviderError(f"all {data['n']} examples failed: {data['failed_calls']} calls "
                        f"failed after {data['retries']} retries ({reasons or 'no retries'}); "
                        f"first error: {first}")
