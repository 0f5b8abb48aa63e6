"""Shared CLI options and their translation into engine options."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

TaskArg = Annotated[Path, typer.Argument(help="task file (YAML)", show_default=False)]
ModelOpt = Annotated[str | None, typer.Option("--model", "-m",
                                              help="model spec: local, openai:NAME, "
                                                   "anthropic:NAME, fake")]
ConcurrencyOpt = Annotated[int | None, typer.Option(min=1, help="calls in flight "
                                                    "(default: per provider)")]
JsonOpt = Annotated[bool, typer.Option("--json", help="print one JSON object")]
NoCacheOpt = Annotated[bool, typer.Option("--no-cache", help="ignore the response cache")]
MaxCallsOpt = Annotated[int | None, typer.Option(min=1, help="stop after N model calls")]
MaxCostOpt = Annotated[float | None, typer.Option(min=0, help="stop after spending USD")]
MaxMinutesOpt = Annotated[float | None, typer.Option(min=0, help="stop after M minutes")]
