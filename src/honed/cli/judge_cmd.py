"""``honed judge agreement`` (how often a judge agrees with people) and ``honed judge align``
(make a task's ``llm_judge`` agree with people, register it, gate it on kappa)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from honed.cli.options import (
    ConcurrencyOpt,
    JsonOpt,
    MaxCallsOpt,
    MaxMinutesOpt,
    MaxTokensOpt,
    ModelOpt,
    NoCacheOpt,
    TaskArg,
)

if TYPE_CHECKING:
    from honed.lifecycle.judges.ratings import Labelled

FileArg = Annotated[Path, typer.Argument(
    help="JSONL or CSV rows: human, judge (labels or numbers), optional rater and item/id",
    show_default=False)]
OrderOpt = Annotated[str | None, typer.Option(
    "--order", help="the labels low to high, comma-separated (a scale: weighted kappa, ordinal "
                    "alpha; default: numbers by value, fail/pass-like pairs, else alphabetical)",
    show_default=False)]
SeedOpt = Annotated[int, typer.Option(help="bootstrap and split seed: same seed, same result")]
MaxUsdOpt = Annotated[float | None, typer.Option(
    "--max-cost", "--max-usd", min=0, help="at most USD; a call starts only if its worst case "
                                           "fits")]


def judge_agreement(file: FileArg, order: OrderOpt = None, seed: SeedOpt = 0,
                    json_output: JsonOpt = False) -> None:
    """How often a judge agrees with people: kappa (with a CI), accuracy, rho, alpha, bias."""
    from honed.cli import render
    from honed.cli.render import judge as show
    from honed.lifecycle.judges.ratings import agreement_report, parse_order, read_ratings

    data = agreement_report(read_ratings(file, parse_order(order)), seed=seed)
    render.json_out(data) if json_output else show.agreement(data)


def _labelled(labels: Path | None, from_log: str | None) -> tuple[list[Labelled], str]:
    from honed.errors import ConfigError
    from honed.lifecycle.judges.ratings import labelled_from_log, read_labelled

    if (labels is None) == (from_log is None):
        raise ConfigError("give the people's labels with --labels FILE or --from-log PROMPT "
                          "(one of them)", field="--labels",
                          fix="--labels labels.jsonl (rows: input, output, label or score, "
                              "comment), or --from-log NAME for feedback in the production log")
    if labels is not None:
        return read_labelled(labels), str(labels)
    from honed.cli.keys_cmd import open_log

    with open_log() as store:
        logged = store.requests(prompt=from_log, with_feedback=True)
    return labelled_from_log(logged), f"production log (prompt {from_log})"


def judge_align(
    task: TaskArg,
    labels: Annotated[Path | None, typer.Option(
        "--labels", help="JSONL or CSV: input, output, label (or score), optional comment",
        show_default=False)] = None,
    from_log: Annotated[str | None, typer.Option(
        "--from-log", help="take the labels from feedback on this prompt in the production log",
        show_default=False)] = None,
    eval_name: Annotated[str | None, typer.Option(
        "--eval", help="the llm_judge eval to align (default: the task's only one)",
        show_default=False)] = None,
    name: Annotated[str | None, typer.Option(
        "--name", help="registry name of the aligned judge (default: TASK-judge)",
        show_default=False)] = None,
    optimizer: Annotated[str, typer.Option(
        "--optimizer", "-o", help="auto, fewshot, mutate, bayes, ... (see honed optimizers)")
    ] = "auto",
    param: Annotated[list[str] | None, typer.Option(
        "--param", "-p", help="an optimizer parameter, KEY=VALUE (repeatable)")] = None,
    order: OrderOpt = None,
    min_kappa: Annotated[float, typer.Option(
        "--min-kappa", min=-1, max=1, help="production needs held-out kappa at least this")
    ] = 0.6,
    promote: Annotated[bool, typer.Option(
        "--promote", help="point production at the judge if its kappa passes")] = False,
    constrain: Annotated[bool, typer.Option(
        "--constrain", help="decode answers as exactly one label (no reason; small local "
                            "models)")] = False,
    test_fraction: Annotated[float, typer.Option(
        "--test-fraction", min=0.05, max=0.9, help="share of labels held out")] = 0.3,
    top: Annotated[int, typer.Option(min=0, help="disagreements to show")] = 5,
    model: ModelOpt = None,
    max_calls: MaxCallsOpt = None,
    max_tokens: MaxTokensOpt = None,
    max_cost: MaxUsdOpt = None,
    max_minutes: MaxMinutesOpt = None,
    seed: SeedOpt = 0,
    concurrency: ConcurrencyOpt = None,
    no_cache: NoCacheOpt = False,
    json_output: JsonOpt = False,
) -> None:
    """Align a task's llm_judge with people's labels; register it, gated on held-out kappa."""
    from honed.cli.options import limits as budget_limits
    from honed.lifecycle.judges.align import AlignOptions
    from honed.lifecycle.judges.ratings import parse_order
    from honed.optimizers.registry import parse_params
    from honed.optimizers.session import SearchOptions
    from honed.task.config import load_task

    loaded = load_task(task)
    rows, source = _labelled(labels, from_log)
    search = SearchOptions(seed=seed, limits=budget_limits(max_calls, max_tokens, max_cost,
                                                           max_minutes),
                           model=model, concurrency=concurrency, cache=not no_cache)
    options = AlignOptions(eval=eval_name, name=name, optimizer=optimizer,
                           params=parse_params(param or []), search=search,
                           order=parse_order(order), test_fraction=test_fraction,
                           constrain=constrain, min_kappa=min_kappa, promote=promote, top=top)
    _run(loaded, rows, source, options, json_output, max_calls)


def _run(task: Any, rows: list[Labelled], source: str, options: Any, json_output: bool,
         total: int | None) -> None:
    import asyncio
    import contextlib

    from honed.cli import render
    from honed.cli.render import judge as show
    from honed.errors import GateFailed
    from honed.lifecycle.judges.align import align

    progress = render.SearchProgress(total) if not json_output and render.interactive() else None
    with progress or contextlib.nullcontext():
        callbacks = [render.warnings, *([progress] if progress else [])]
        result = asyncio.run(align(task, rows, options, source=source, callbacks=callbacks))
    data = result.to_dict()
    render.json_out(data) if json_output else show.alignment(data)
    if result.refused:
        raise GateFailed(result.refused)
