"""``honed apply``, ``honed gate`` and ``honed abtest``: parse options, call lifecycle, render.

Prompt SPECs everywhere: a task file, ``NAME@ALIAS`` / ``NAME/VERSION`` (prompt registry) or a
run id (its best candidate).
"""

from __future__ import annotations

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
    data = result.to_dict()
    if json_output:
        _json(data)
    else:
        _apply_summary(data)


def _apply_summary(data: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.syntax import Syntax

    console = Console()
    label = (data["source"] or {}).get("label", "")
    if not data["changed"]:
        console.print(f"{data['task_file']} already has this prompt ({label}); nothing to do",
                      highlight=False)
        return
    console.print(Syntax(data["diff"], "diff", theme="ansi_dark", background_color="default"))
    if data["dry_run"]:
        console.print(f"dry run: {data['task_file']} not changed", highlight=False)
        return
    console.print(f"applied {label} -> {data['task_file']} (backup: {data['backup']})",
                  highlight=False)
    expected = (data["source"] or {}).get("run_test_score")
    if expected is not None:
        console.print(f"the run scored {expected:.3f} on test; check with: honed eval "
                      f"{data['task_file']}", highlight=False)


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
    from honed.engine.session import EngineOptions
    from honed.lifecycle.gates import GateRun, Thresholds, run_gates
    from honed.lifecycle.promote import record_gate
    from honed.lifecycle.specs import open_sources, resolve_spec
    from honed.task.config import load_task

    _check_split(split)
    loaded = load_task(task)
    cli_gates = Thresholds(min_score, max_regression, max_cost_per_example, max_p95_latency,
                           max_error_rate, action).gates(has_baseline=against is not None)
    spec = prompt or str(task)  # the task's own prompt (or its prompt.registry reference)
    with open_sources([spec, against]) as src:
        this = resolve_spec(spec, registry=src.registry, store=src.store, base_task=loaded)
        prod = resolve_spec(against, registry=src.registry, store=src.store,
                            base_task=loaded) if against else None
    plan = GateRun(this.candidate, prod.candidate if prod else None, split, limit,
                   EngineOptions(model=model, cache=not no_cache))
    import asyncio
    report = asyncio.run(run_gates(loaded, [*loaded.gates, *cli_gates], plan))
    recorded = record_gate(src.registry, this.meta, report) if limit is None else None
    data = {"task": loaded.name, "prompt": this.label,
            "against": prod.label if prod else None, **report.to_dict(), "recorded": recorded}
    if json_output:
        _json(data)
    else:
        _gate_table(data)
    if report.exit_code:
        raise typer.Exit(report.exit_code)


_STATUS_STYLE = {"pass": "green", "fail": "red", "skip": "dim"}
_OUTCOME_STYLE = {"PASS": "bold green", "WARN": "bold yellow", "FAIL": "bold red",
                  "BLOCK_DEPLOY": "bold red"}


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:.4g}"


def _gate_table(data: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    lo, hi = data["ci95"]
    table = Table("gate", "value", "threshold", "status", "action", "detail",
                  title=f"{data['task']} · {data['split']} · score {data['score']:.3f} "
                        f"[{lo:.3f}, {hi:.3f}] n={data['n']} errors={data['errors']}")
    for g in data["gates"]:
        style = _STATUS_STYLE[g["status"]]
        table.add_row(g["gate"], _num(g["value"]),
                      f"{'>=' if g['bound'] == 'min' else '<='} {g['threshold']:g}",
                      f"[{style}]{g['status'].upper()}[/{style}]", g["action"], g["detail"])
    console = Console()
    console.print(table)
    if data["production"]:
        p = data["production"]
        console.print(f"production ({data['against']}): {p['score']:.3f} "
                      f"[{p['ci95'][0]:.3f}, {p['ci95'][1]:.3f}] n={p['n']} errors={p['errors']}",
                      highlight=False)
    for note in data["notes"]:
        console.print(f"note: {note}", highlight=False)
    outcome = data["outcome"]
    style = _OUTCOME_STYLE[outcome]
    console.print(f"[{style}]{outcome}[/{style}] (exit {data['exit_code']})")
    if data["recorded"]:
        console.print(f"recorded on {data['recorded']} (tags honed.gate, honed.blocked)",
                      highlight=False)


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
    limit: LimitOpt = None,
    no_cache: NoCacheOpt = False,
    json_output: JsonOpt = False,
) -> None:
    """Offline A/B test of two prompts on the same examples, with paired statistics."""
    from honed.engine.session import EngineOptions
    from honed.lifecycle.abtest import ABPlan, abtest_specs, check_alpha, choose_test
    from honed.lifecycle.specs import open_sources
    from honed.task.config import load_task

    _check_split(split)
    check_alpha(alpha)
    choose_test(test, binary=True)
    base = load_task(task) if task is not None else None
    plan = ABPlan(split, limit, alpha, test, options=EngineOptions(model=model,
                                                                   cache=not no_cache))
    with open_sources([a, b]) as src:
        import asyncio
        result = asyncio.run(abtest_specs(a, b, plan, task=base, registry=src.registry,
                                          store=src.store))
    data = result.to_dict()
    if json_output:
        _json(data)
    else:
        _abtest_summary(data)


def _abtest_summary(data: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table("", "prompt", "score [95% CI]", "n", "errors", "$/example", "p50 s", "p95 s",
                  title=f"A/B · {data['task']} · {data['split']} · {data['model']}")
    for key in ("a", "b"):
        v, source = data[key], data["sources"].get(key.upper(), {})
        table.add_row(key.upper(), source.get("label", v["candidate_id"][:8]),
                      f"{v['score']:.3f} [{v['ci95'][0]:.3f}, {v['ci95'][1]:.3f}]",
                      str(v["n"]), str(v["errors"]), f"{v['cost_per_example_usd']:.6f}",
                      f"{v['latency_p50_s']:.3f}", f"{v['latency_p95_s']:.3f}")
    console = Console()
    console.print(table)
    console.print(f"B - A: {data['diff']:+.3f} [{data['ci95'][0]:+.3f}, {data['ci95'][1]:+.3f}]"
                  f" (paired, n={data['n_paired']})", highlight=False)
    for name, t in data["tests"].items():
        mark = " <- chosen" if name == data["test"] else ""
        console.print(f"  {t['title']}: p={t['p_value']:.3g}{mark}", highlight=False)
    for note in data["notes"]:
        console.print(f"note: {note}", highlight=False)
    style = "bold green" if data["winner"] else "bold"
    console.print(f"[{style}]{data['verdict']}[/{style}]", highlight=False)


def _json(data: Any) -> None:
    from honed.cli import render

    render.json_out(data)
