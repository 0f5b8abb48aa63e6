"""``honed init [classification|extraction|qa] DIR``: a working task to start from."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def init_command(
    kind: Annotated[str, typer.Argument(help="classification, extraction or qa")],
    folder: Annotated[Path | None, typer.Argument(
        help="where to write task.yaml and data.jsonl (default: ./KIND)",
        show_default=False)] = None,
) -> None:
    """Write a commented task and a 12-row dataset that eval and optimize run as they are."""
    from honed.cli import render
    from honed.lifecycle.scaffold import scaffold

    written = scaffold(kind, folder or Path(kind))
    render.init_summary([str(p) for p in written])
