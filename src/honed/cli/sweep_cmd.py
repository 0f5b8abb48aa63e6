"""``honed sweep``: many optimizations (task x model x optimizer x seed), locally or on Ray."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from honed.cli.options import JsonOpt

SweepExecutorOpt = Annotated[str | None, typer.Option(
    "--executor", help="where the runs go: local (one after another, the default), ray (a "
                       "local Ray cluster, or $RAY_ADDRESS) or ray:ADDRESS (auto, HOST:PORT, "
                       "ray://HOST:10001): each run a Ray task. Default: the file's executor:")]


def sweep_command(
    sweep: Annotated[Path, typer.Argument(help="sweep file (YAML): tasks, models, optimizers, "
                                               "seeds, budget", show_default=False)],
    executor: SweepExecutorOpt = None,
    out: Annotated[Path | None, typer.Option(
        help="folder for the runs and sweep.json (default: the file's out:)")] = None,
    json_output: JsonOpt = False,
) -> None:
    """Run every task x model x optimizer x seed of a sweep file, skipping finished runs;
    end with one summary table and OUT/sweep.json. With --executor ray each run is a Ray
    task."""
    from honed.cli import render
    from honed.cli.options import executor as checked_executor
    from honed.cli.render import sweep as show
    from honed.lifecycle.sweep import load_sweep, run_sweep

    loaded = load_sweep(sweep, out)
    callbacks = [render.warnings, *([] if json_output else [show.progress])]
    report = run_sweep(loaded, executor=checked_executor(executor), callbacks=callbacks)
    render.json_out(report) if json_output else show.summary(report)
    if report["failed"]:
        raise typer.Exit(1)
