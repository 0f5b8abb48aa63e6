"""Terminal output of ``honed report`` and ``honed ui`` (plain dicts in)."""

from __future__ import annotations

from typing import Any

import typer


def _score(split: dict[str, Any] | None) -> str:
    return "-" if not split else f"{split['score']:.3f}"


def written(data: dict[str, Any]) -> None:
    """One line: where the report is and what it holds."""
    report = data["report"]
    if data["kind"] == "run":
        run, matrix = report["run"], report["matrix"] or {"rows": [], "columns": []}
        typer.echo(f"wrote {data['output']}: run {run['id']} ({run['task']}, {run['status']}), "
                   f"val seed {_score(report['seed']['val'])} -> best "
                   f"{_score(report['best']['val'])}, test seed {_score(report['seed']['test'])}"
                   f" -> best {_score(report['best']['test'])}; {len(matrix['rows'])} examples "
                   f"x {len(matrix['columns'])} prompts")
    else:
        labels = " vs ".join(side["label"] for side in report["sides"])
        typer.echo(f"wrote {data['output']}: {labels}")
    for note in report["notes"]:
        typer.echo(f"note: {note}", err=True)


def serving(url: str, home: str, admin: bool) -> None:
    """``honed ui`` has started."""
    typer.echo(f"honed dashboard on {url} (state: {home}); Ctrl+C stops it")
    if not admin:
        typer.echo("read-only: promote and rollback need an admin key "
                   "(honed keys create --scope admin), entered on the dashboard's sign-in page",
                   err=True)

