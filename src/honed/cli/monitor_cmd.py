"""``honed monitor status|check|clear``: quality, errors, latency and cost per prompt version
from the production log, and drift alarms with their evidence. Thin edges over
``honed.monitor``: parse, call, render."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from honed.cli.keys_cmd import open_log
from honed.cli.options import JsonOpt

PromptArg = Annotated[str, typer.Argument(help="the prompt's name", show_default=False)]
DaysOpt = Annotated[float, typer.Option("--days", min=0.01, help="how far back to read the log")]
ReferenceOpt = Annotated[int | None, typer.Option(
    "--reference-n", help="a version's first N quality observations are its reference "
                          "(default 5000)", show_default=False)]
WindowOpt = Annotated[int | None, typer.Option(
    "--window", help="requests compared for a shift (default 1000)", show_default=False)]


def _config(prompt: str, days: float, **fields: Any) -> Any:
    from pydantic import ValidationError

    from honed.errors import ConfigError
    from honed.monitor import MonitorConfig

    try:
        return MonitorConfig(prompt=prompt, days=days,
                             **{k: v for k, v in fields.items() if v is not None})
    except ValidationError as exc:
        first = exc.errors()[0]
        field = "--" + str(first["loc"][0]).replace("_", "-")
        raise ConfigError(str(first["msg"]), field=field) from None


def _show(reports: list[Any], json_output: bool) -> None:
    from honed.cli import render
    from honed.cli.render import monitor as show

    data = [r.to_dict() for r in reports]
    render.json_out(data) if json_output else show.reports(data)


def monitor_status(
    prompt: Annotated[str | None, typer.Argument(help="one prompt (default: every prompt in "
                                                      "the log)", show_default=False)] = None,
    days: DaysOpt = 30.0,
    reference_n: ReferenceOpt = None,
    window: WindowOpt = None,
    json_output: JsonOpt = False,
) -> None:
    """Per-version quality, errors, latency and cost, and open drift alarms (changes nothing)."""
    from honed.monitor import status
    from honed.store.production import prompt_names

    with open_log() as store:
        names = [prompt] if prompt else prompt_names(store)
        _show([status(store, _config(name, days, reference_n=reference_n, window=window))
               for name in names], json_output)


def monitor_check(
    prompt: PromptArg,
    task: Annotated[Path | None, typer.Option(
        "--task", help="task file whose evals score a sample of the traffic",
        show_default=False)] = None,
    evals: Annotated[list[str] | None, typer.Option(
        "--eval", help="only this eval of the task (repeatable)", show_default=False)] = None,
    sample: Annotated[float | None, typer.Option(
        "--sample", help="share of requests scored (default 0.1)", show_default=False)] = None,
    days: DaysOpt = 30.0,
    reference_n: ReferenceOpt = None,
    window: WindowOpt = None,
    json_output: JsonOpt = False,
) -> None:
    """Score a sample of recent traffic, run the drift detectors and record new alarms."""
    from honed.monitor import check
    from honed.task.config import load_task

    loaded = load_task(task) if task is not None else None
    config = _config(prompt, days, task=task, evals=evals or [], sample=sample,
                     reference_n=reference_n, window=window)
    with open_log() as store:
        _show([check(store, config, task=loaded)], json_output)


def monitor_clear(prompt: PromptArg, json_output: JsonOpt = False) -> None:
    """Acknowledge the prompt's open alarms (a new drop or shift raises a new one)."""
    from honed.cli import render
    from honed.store.monitor import MonitorStore

    with open_log() as store:
        cleared = MonitorStore.of(store).clear_alarms(prompt, by="user")
    if json_output:
        render.json_out({"prompt": prompt, "cleared": cleared})
    else:
        render.line(f"cleared {cleared} alarm(s) of {prompt}")
