"""``honed`` entry point. Command modules are imported lazily so ``honed --help`` stays fast."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from honed.cli import (
    bench_cmd,
    doctor_cmd,
    eval_cmd,
    experiment_cmd,
    init_cmd,
    judge_cmd,
    keys_cmd,
    lifecycle_cmd,
    log_cmd,
    loop_cmd,
    misc,
    monitor_cmd,
    optimize_cmd,
    optimizers_cmd,
    registry_cmd,
    report_cmd,
    serve_cmd,
    sweep_cmd,
    ui_cmd,
)

app = typer.Typer(
    name="honed",
    help="Eval-driven automatic prompt optimization: measure, optimize, prove and ship prompts.",
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _print_version(value: bool) -> None:
    """``--version`` is eager: it answers before any command or argument is looked at."""
    if value:
        from honed import __version__
        from honed.cli import render

        render.line(f"honed {__version__}")
        raise typer.Exit(0)


VersionOpt = Annotated[bool, typer.Option("--version", callback=_print_version, is_eager=True,
                                          help="print honed's version and exit")]


@app.callback(invoke_without_command=True)
def _root(ctx: typer.Context, version: VersionOpt = False) -> None:
    if ctx.invoked_subcommand is None:
        from honed.cli import render

        render.line(ctx.get_help())
        raise typer.Exit(0)


app.command("eval")(eval_cmd.eval_command)
app.command("optimize")(optimize_cmd.optimize_command)
app.command("optimizers")(optimizers_cmd.optimizers_command)
runs = typer.Typer(help="Inspect optimization runs.", no_args_is_help=True)
runs.command("list")(optimize_cmd.runs_list)
runs.command("show")(optimize_cmd.runs_show)
app.add_typer(runs, name="runs")
app.command("bench")(bench_cmd.bench_command)
app.command("sweep")(sweep_cmd.sweep_command)
app.command("apply")(lifecycle_cmd.apply_command)
app.command("gate")(lifecycle_cmd.gate_command)
app.command("abtest")(lifecycle_cmd.abtest_command)
registry = typer.Typer(help="Versioned prompts: list, show, diff, promote, rollback.",
                       no_args_is_help=True)
for _name in ("list", "show", "diff", "promote", "rollback", "copy"):
    registry.command(_name)(getattr(registry_cmd, f"registry_{_name}"))
app.add_typer(registry, name="registry")
registry.command("ui")(registry_cmd.ui_command)
app.command("ui")(ui_cmd.ui_command)
app.command("report")(report_cmd.report_command)
app.command("init")(init_cmd.init_command)
app.command("schema")(misc.schema_command)
app.command("version")(misc.version_command)
app.command("doctor")(doctor_cmd.doctor_command)
app.command("serve")(serve_cmd.serve_command)
keys = typer.Typer(help="API keys for `honed serve`: create, list, revoke.", no_args_is_help=True)
for _name in ("create", "list", "revoke"):
    keys.command(_name)(getattr(keys_cmd, f"keys_{_name}"))
app.add_typer(keys, name="keys")
app.command("log")(log_cmd.log_command)
app.command("harvest")(log_cmd.harvest_command)
judge = typer.Typer(help="LLM judges that agree with people: agreement, align.",
                    no_args_is_help=True)
judge.command("agreement")(judge_cmd.judge_agreement)
judge.command("align")(judge_cmd.judge_align)
app.add_typer(judge, name="judge")
experiment = typer.Typer(help="Online A/B tests on live traffic: start, status, stop, list, check.",
                         no_args_is_help=True)
for _name in ("start", "status", "stop", "list", "check"):
    experiment.command(_name)(getattr(experiment_cmd, f"experiment_{_name}"))
app.add_typer(experiment, name="experiment")
app.command("rollback")(experiment_cmd.rollback_command)
monitor = typer.Typer(help="Production quality and drift: status, check, clear.",
                      no_args_is_help=True)
for _name in ("status", "check", "clear"):
    monitor.command(_name)(getattr(monitor_cmd, f"monitor_{_name}"))
app.add_typer(monitor, name="monitor")
loop = typer.Typer(help="The continuous-learning loop: tick, run, status.", no_args_is_help=True)
for _name in ("tick", "run", "status"):
    loop.command(_name)(getattr(loop_cmd, f"loop_{_name}"))
app.add_typer(loop, name="loop")


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; every HonedError becomes a one-or-two-line message and an exit code."""
    import os

    from honed.cli.errors import run_guarded

    if os.environ.get("HONED_FORBID_NETWORK") == "1":
        from honed.testing import block_network

        block_network()
    return run_guarded(lambda: app(args=argv, prog_name="honed"))


if __name__ == "__main__":
    sys.exit(main())
