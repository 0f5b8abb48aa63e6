"""Small commands: schema, version."""

from __future__ import annotations

from typing import Annotated

import typer

OptimizersOpt = Annotated[bool, typer.Option(
    "--optimizers", help="print the JSON Schema of each optimizer's parameters instead, by "
                         "name (what a task's optimizer: {name: NAME, ...} may set)")]


def schema_command(optimizers: OptimizersOpt = False) -> None:
    """Print the JSON Schema of a task file (for editors and validation); with --optimizers,
    the schemas of the optimizers' parameters."""
    from honed.cli import render

    if optimizers:
        from honed.optimizers.registry import optimizer_schemas

        render.json_out({"optimizers": optimizer_schemas()})
        return
    from honed.task.config import task_json_schema

    render.json_out(task_json_schema())


def version_command() -> None:
    """Print honed's version."""
    from honed import __version__
    from honed.cli import render

    render.line(__version__)
