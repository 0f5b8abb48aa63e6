"""``honed experiment start|status|stop|list|check`` and ``honed rollback``: online experiments
over the production log (``$HONED_DB`` or ``$HONED_HOME/serve.sqlite``) and the prompt registry
of this home. Thin edges over ``honed.lifecycle.experiments``: parse, call, render.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from honed.cli.keys_cmd import open_log_and_registry
from honed.cli.options import JsonOpt

if TYPE_CHECKING:
    pass

NameArg = Annotated[str, typer.Argument(help="the experiment's name", show_default=False)]
EXIT_CHECK_FAILED = 1


def _out(data: Any, json_output: bool, show: Callable[[Any], None]) -> None:
    if json_output:
        from honed.cli import render

        render.json_out(data)
    else:
        show(data)


def experiment_start(
    name: NameArg,
    control: Annotated[str, typer.Option(
        "--control", help="NAME@ALIAS whose traffic is split, e.g. NAME@production",
        show_default=False)],
    treatment: Annotated[str, typer.Option(
        "--treatment", help="NAME@ALIAS or NAME/VERSION to try", show_default=False)],
    metric: Annotated[str, typer.Option(
        "--metric", help="feedback, or eval:NAME (an eval of --task)", show_default=False)],
    split: Annotated[float, typer.Option(
        "--split", help="share of users sent to the treatment")] = 0.1,
    guardrail: Annotated[list[str] | None, typer.Option(
        "--guardrail", help="a limit on the treatment, repeatable: latency_p95<2s, "
                            "error_rate<0.01, cost_per_request<0.002", show_default=False)]
    = None,
    max_requests: Annotated[int | None, typer.Option(
        "--max-requests", help="end without a decision after N requests",
        show_default=False)] = None,
    max_days: Annotated[float | None, typer.Option(
        "--max-days", help="end without a decision after D days", show_default=False)] = None,
    task: Annotated[Path | None, typer.Option(
        "--task", help="the task file whose eval --metric eval:NAME uses",
        show_default=False)] = None,
    unit: Annotated[str, typer.Option(
        "--unit", help="one observation per user (the mean of their requests; a request "
                       "without a user id counts alone), or per request")] = "user",
    json_output: JsonOpt = False,
) -> None:
    """Start an A/B test of a candidate prompt on live traffic."""
    from honed.cli.render import experiments as show
    from honed.experiments import ExperimentConfig, parse_guardrails, parse_metric
    from honed.lifecycle.experiments import start_experiment

    config = ExperimentConfig(
        name=name, control=control, treatment=treatment, metric=parse_metric(metric),
        split=split, guardrails=parse_guardrails(guardrail or []), max_requests=max_requests,
        max_days=max_days, task=None if task is None else str(task), unit=unit)
    config.validate()
    with open_log_and_registry() as (store, registry):
        experiment = start_experiment(store, registry, config)
    _out(experiment.to_dict(), json_output, show.started)


def experiment_status(name: NameArg, json_output: JsonOpt = False) -> None:
    """Show an experiment: arms, metric, test, sample ratio, guardrails, decisions."""
    from honed.cli.render import experiments as show
    from honed.lifecycle.experiments import experiment_status as status

    with open_log_and_registry() as (store, _registry):
        data = status(store, name)
    _out(data, json_output, show.status)


def experiment_stop(name: NameArg, json_output: JsonOpt = False) -> None:
    """Stop an experiment by hand: routing stops, the control keeps its alias."""
    from honed.cli.render import experiments as show
    from honed.lifecycle.experiments import stop_experiment

    with open_log_and_registry() as (store, _registry):
        decision = stop_experiment(store, name)
    _out(dict(decision), json_output, show.stopped)


def experiment_list(json_output: JsonOpt = False) -> None:
    """List experiments, newest first."""
    from honed.cli.render import experiments as show
    from honed.experiments import Experiment
    from honed.store.experiments import ExperimentStore

    with open_log_and_registry() as (store, _registry):
        rows = ExperimentStore.of(store).experiments()
    data = {"experiments": [Experiment.from_row(row).to_dict() for row in rows]}
    _out(data, json_output, show.listing)


def experiment_check(
    name: Annotated[str | None, typer.Argument(
        help="one experiment (default: every running one)", show_default=False)] = None,
    json_output: JsonOpt = False,
) -> None:
    """Check running experiments now and act on their decisions (for cron).

    `honed serve` also checks them periodically. Exits 1 when an experiment could not be
    checked.
    """
    from honed.cli.render import experiments as show
    from honed.lifecycle.experiments import check_experiments

    with open_log_and_registry() as (store, registry):
        reports = check_experiments(store, registry, [name] if name else [])
    data = {"checked": [report.to_dict() for report in reports]}
    _out(data, json_output, show.checked)
    if any(report.error for report in reports):
        raise typer.Exit(EXIT_CHECK_FAILED)


def rollback_command(
    name: Annotated[str, typer.Argument(help="prompt name", show_default=False)],
    json_output: JsonOpt = False,
) -> None:
    """Undo the latest promotion an experiment made for prompt NAME.

    The alias moves back to the version it replaced, and the undo is recorded.
    """
    from honed.cli.render import experiments as show
    from honed.lifecycle.experiments import rollback_decision

    with open_log_and_registry() as (store, registry):
        decision = rollback_decision(store, registry, name)
    _out(dict(decision), json_output, show.rolled_back)
