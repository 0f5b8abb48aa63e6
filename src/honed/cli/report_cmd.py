"""``honed report``: one self-contained HTML file for a run, or for two or more runs and
registry versions side by side."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from honed.cli.options import JsonOpt

SpecsArg = Annotated[list[str], typer.Argument(
    help="a run id (a unique prefix, or latest); two or more runs or prompt versions "
         "(NAME@ALIAS, NAME/VERSION) to compare them", show_default=False,
    metavar="RUN")]
OutputOpt = Annotated[Path, typer.Option(
    "--output", "-o", help="the HTML file to write", dir_okay=False)]


def report_command(specs: SpecsArg, output: OutputOpt = Path("report.html"),
                   json_output: JsonOpt = False) -> None:
    """Write an HTML report that opens offline: summary, score against calls, Pareto front,
    examples × prompts, the diff from the seed to the best prompt, the per-eval breakdown."""
    from honed.cli import render
    from honed.cli.render import report as show
    from honed.engine.session import honed_home
    from honed.lifecycle.report import RunReport
    from honed.lifecycle.report.build import build_report
    from honed.web.document import compare_html, report_html

    report = build_report(specs, honed_home())
    if isinstance(report, RunReport):
        html, kind = report_html(report), "run"
    else:
        html, kind = compare_html(report), "compare"
    write(output, html)
    summary = {"output": str(output), "kind": kind, "report": report.to_dict()}
    render.json_out(summary) if json_output else show.written(summary)


def write(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` whole or not at all."""
    import os

    from honed.errors import ConfigError

    if not path.parent.is_dir():
        raise ConfigError(f"cannot write {path}: the folder {path.parent} does not exist",
                          field="--output", fix="create the folder or pick another path")
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)
