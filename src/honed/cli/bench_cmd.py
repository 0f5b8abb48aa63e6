"""``honed bench``: compare optimizers on one task with the same budget, splits and model."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from honed.cli.options import JsonOpt, MaxCallsOpt, ModelOpt, TaskArg


def bench_command(
    task: TaskArg,
    optimizers: Annotated[str, typer.Option(help="comma-separated optimizer names")] =
        "mutate,fewshot,bayes,auto",
    max_calls: MaxCallsOpt = 300,
    seeds: Annotated[str, typer.Option(help="comma-separated seeds")] = "0",
    model: ModelOpt = None,
    reflection_model: Annotated[str | None, typer.Option(help="reflection model spec")] = None,
    out: Annotated[Path, typer.Option(help="folder for bench.md, bench.png")] = Path(
        "bench-out"),
    json_output: JsonOpt = False,
) -> None:
    """Run each optimizer with the same budget and splits; write a table and a plot."""
    import asyncio

    from honed.cli import render
    from honed.engine.budget import Limits
    from honed.errors import ConfigError
    from honed.lifecycle.bench import BenchOptions, bench
    from honed.lifecycle.optimize import OptimizeOptions, validate
    from honed.optimizers.session import SearchOptions
    from honed.task.config import load_splits, load_task

    try:
        seed_values = [int(s) for s in seeds.split(",") if s.strip()]
    except ValueError:
        raise ConfigError(f"bad --seeds {seeds!r}", field="--seeds",
                          fix="comma-separated integers, e.g. 0,1,2") from None
    names = [n.strip() for n in optimizers.split(",") if n.strip()]
    loaded = load_task(task)
    search = SearchOptions(limits=Limits(max_calls=max_calls), model=model,
                           reflection_model=reflection_model)
    base = OptimizeOptions(optimizer=names[0], search=search)
    splits = load_splits(loaded)
    for name in names:
        validate(loaded, splits, OptimizeOptions(optimizer=name, search=search), None)
    report = asyncio.run(bench(loaded, BenchOptions(names, seed_values, base, out)))
    if json_output:
        render.json_out({k: v for k, v in report.items() if k != "markdown"})
    else:
        render.bench_summary(report)
