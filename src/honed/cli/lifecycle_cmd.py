"""``honed apply``, ``honed gate`` and ``honed abtest``: parse options, call lifecycle, render.

Prompt SPECs everywhere: a task file, ``NAME@ALIAS`` / ``NAME/VERSION`` (prompt registry) or a
run id (its best candidate).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer

from honed.cli.options import JsonOpt, ModelOpt, NoCacheOpt, TaskArg

SPLITS = ("test", "val", "train", "all")
SpecHelp = "a task file, NAME@ALIAS, NAME/VERSION or a run id"
SplitOpt = Annotated[str, typer.Option(help="test, val, train or all")]
LimitOpt = Annotated[int | None, typer.Option(min=1, help="first N examples only")]


def _check_split(split: str) -> None:
    from honed.errors import ConfigError

    if split not in SPLITS:
        raise ConfigError(f"unknown split {split!r}", field="--split",
                          fix="use test, val, train or all")


# apply ------------------------------------------------------------------------------------------
def apply_command(
    source: Annotated[str, typer.Argument(help=f"the prompt to apply: {SpecHelp}",
                                          show_default=False)],
    task: Annotated[Path | None, typer.Argument(
        help="task file to write it into (default for a run id: the run's task file)",
        show_default=False)] = None,
    task_option: Annotated[Path | None, typer.Option(
        "--task", help="the task file, as an option (same as the TASK argument)",
        show_default=False)] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="show the diff; write nothing")]
    = False,
    json_output: JsonOpt = False,
) -> None:
    """Write a prompt into a task file, keeping comments and layout (backup first)."""
    from honed.cli.render import lifecycle as show
    from honed.errors import ConfigError
    from honed.lifecycle.apply import apply
    from honed.lifecycle.specs import open_sources

    if task is not None and task_option is not None and task != task_option:
        raise ConfigError("two different task files given", field="--task",
                          fix="give the task file once: honed apply SPEC TASK.yaml")
    task = task or task_option
    with open_sources([source]) as sources:
        result = apply(source, task, dry_run=dry_run, registry=sources.registry,
                       store=sources.store)
    _out(result.to_dict(), json_output, show.apply_summary)


# gate -------------------------------------------------------------------------------------------
def gate_command(
    task: TaskArg,
    prompt: Annotated[str | None, typer.Option(
        "--prompt", help=f"the prompt to gate ({SpecHelp}); default: the task file's own")]
    = None,
    against: Annotated[str | None, typer.Option(
        "--against", help=f"the production prompt, for regression ({SpecHelp})")] = None,
    split: SplitOpt = "test",
    model: ModelOpt = None,
    limit: LimitOpt = None,
    min_score: Annotated[float | None, typer.Option(help="fail below this score")] = None,
    max_regression: Annotated[float | None, typer.Option(
        help="fail if production score - this score exceeds it (needs --against)")] = None,
    max_cost_per_example: Annotated[float | None, typer.Option(
        min=0, help="fail above this USD per example")] = None,
    max_p95_latency: Annotated[float | None, typer.Option(
        min=0, help="fail above this p95 latency (seconds)")] = None,
    max_error_rate: Annotated[float | None, typer.Option(
        min=0, max=1, help="fail above this share of errored examples")] = None,
    action: Annotated[str, typer.Option(
        help="what a failing command-line gate means: WARN, FAIL or BLOCK_DEPLOY")] = "FAIL",
    no_cache: NoCacheOpt = False,
    json_output: JsonOpt = False,
) -> None:
    """Check quality gates (task gates: plus options). Exit 0 pass/warn, 1 fail, 3 block."""
    import asyncio

    from honed.cli.render import lifecycle as show
    from honed.engine.session import EngineOptions
    from honed.lifecycle.gates import GateRun, Thresholds, run_gates
    from honed.lifecycle.promote import record_gate
    from honed.task.config import load_task

    _check_split(split)
    loaded = load_task(task)
    cli_gates = Thresholds(min_score, max_regression, max_cost_per_example, max_p95_latency,
                           max_error_rate, action).gates(has_baseline=against is not None)
    spec = prompt or str(task)  # the task's own prompt (or its prompt.registry reference)
    this, prod, registry = _resolve_pair(loaded, spec, against)
    plan = GateRun(this.candidate, prod.candidate if prod else None, split, limit,
                   EngineOptions(model=model, cache=not no_cache))
    report = asyncio.run(run_gates(loaded, [*loaded.gates, *cli_gates], plan))
    recorded = record_gate(registry, this.meta, report) if limit is None else None
    _out({"task": loaded.name, "prompt": this.label, "against": prod.label if prod else None,
          **report.to_dict(), "recorded": recorded}, json_output, show.gate_table)
    if report.exit_code:
        raise typer.Exit(report.exit_code)


def _resolve_pair(loaded: Any, spec: str, against: str | None) -> tuple[Any, Any, Any]:
    """The prompt to gate, the production prompt (or None) and the registry they came from."""
    from honed.lifecycle.specs import open_sources, resolve_spec

    with open_sources([spec, against]) as src:
        this = resolve_spec(spec, registry=src.registry, store=src.store, base_task=loaded)
        prod = resolve_spec(against, registry=src.registry, store=src.store,
                            base_task=loaded) if against else None
    return this, prod, src.registry


# abtest -----------------------------------------------------------------------------------------
def abtest_command(
    a: Annotated[str, typer.Argument(help=f"prompt A, the baseline ({SpecHelp})",
                                     show_default=False)],
    b: Annotated[str, typer.Argument(help=f"prompt B, the challenger ({SpecHelp})",
                                     show_default=False)],
    task: Annotated[Path | None, typer.Option(
        "--task", help="task file for data, evals and model (default: A's or B's task)")]
    = None,
    split: SplitOpt = "test",
    alpha: Annotated[float, typer.Option(help="significance level")] = 0.05,
    test: Annotated[str, typer.Option(
        help="auto (McNemar for pass/fail, else Wilcoxon), mcnemar, ttest or wilcoxon")]
    = "auto",
    model: ModelOpt = None,
    model_b: Annotated[str | None, typer.Option(
        "--model-b", help="B's model (default: the same as A's); to compare two models on "
                          "one prompt, give the same prompt as A and B", show_default=False)]
    = None,
    limit: LimitOpt = None,
    no_cache: NoCacheOpt = False,
    json_output: JsonOpt = False,
) -> None:
    """Offline A/B test of two prompts (or two models) on the same examples, with paired
    statistics."""
    from honed.cli.render import lifecycle as show
    from honed.engine.session import EngineOptions
    from honed.lifecycle.abtest import ABPlan, abtest_specs, check_alpha, choose_test
    from honed.lifecycle.specs import open_sources
    from honed.task.config import load_task

    _check_split(split)
    check_alpha(alpha)
    choose_test(test, binary=True)
    base = load_task(task) if task is not None else None
    plan = ABPlan(split, limit, alpha, test, options=EngineOptions(model=model,
                                                                   cache=not no_cache),
                  model_b=model_b)
    with open_sources([a, b]) as src:
        import asyncio
        result = asyncio.run(abtest_specs(a, b, plan, task=base, registry=src.registry,
                                          store=src.store))
    _out(result.to_dict(), json_output, show.abtest_summary)


def _out(data: dict[str, Any], json_output: bool,
         text: Callable[[dict[str, Any]], None]) -> None:
    """One JSON object with --json, else ``text(data)`` (a ``render.lifecycle`` function)."""
    from honed.cli import render

    if json_output:
        render.json_out(data)
    else:
        text(data)
