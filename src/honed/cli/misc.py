"""Small commands: schema, version."""

from __future__ import annotations

import json

import typer


def schema_command() -> None:
    """Print the JSON Schema of a task file (for editors and validation)."""
    from honed.task.config import task_json_schema

    typer.echo(json.dumps(task_json_schema(), indent=2))


def version_command() -> None:
    """Print honed's version."""
    from honed import __version__

    typer.echo(__version__)
