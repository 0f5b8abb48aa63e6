"""Shared CLI options and their translation into engine options."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from honed.engine.budget import Limits

TaskArg = Annotated[Path, typer.Argument(help="task file (YAML)", show_default=False)]
ModelOpt = Annotated[str | None, typer.Option("--model", "-m",
                                              help="model spec: local, openai:NAME, "
                                                   "anthropic:NAME, fake")]
ConcurrencyOpt = Annotated[int | None, typer.Option(min=1, help="calls in flight "
                                                    "(default: per provider)")]
JsonOpt = Annotated[bool, typer.Option("--json", help="print one JSON object")]
NoCacheOpt = Annotated[bool, typer.Option("--no-cache", help="ignore the response cache")]
MaxCallsOpt = Annotated[int | None, typer.Option(
    min=1, help="at most N real model requests, retries included")]
MaxTokensOpt = Annotated[int | None, typer.Option(
    min=1, help="at most N tokens (input + output); a call starts only if its worst case fits")]
MaxCostOpt = Annotated[float | None, typer.Option(
    min=0, help="at most USD; a call starts only if its worst case fits")]
MaxMinutesOpt = Annotated[float | None, typer.Option(min=0, help="stop after M minutes")]
ExecutorOpt = Annotated[str | None, typer.Option(
    "--executor", help="where model calls run: local (default), ray (a local Ray cluster, or "
                       "$RAY_ADDRESS), ray:ADDRESS (auto, HOST:PORT, ray://HOST:10001); "
                       "?actors=N sets the actors per model. Default: the task's executor:")]


def limits(max_calls: int | None, max_tokens: int | None, max_cost: float | None,
           max_minutes: float | None) -> Limits:
    """The budget flags as engine limits."""
    from honed.engine.budget import Limits

    return Limits.of(max_calls, max_tokens, max_cost, max_minutes)


def executor(text: str | None) -> str | None:
    """``--executor``, checked before any work starts (its form; Ray installed if named)."""
    if text is not None:
        from honed.engine.executors import check_executor

        check_executor(text)
    return text
