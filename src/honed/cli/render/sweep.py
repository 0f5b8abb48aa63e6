"""Terminal output of ``honed sweep`` (plain dicts in)."""

from __future__ import annotations

from typing import Any

import typer


def progress(event: object) -> None:
    """An event callback: the sweep's progress lines, on stderr."""
    from honed.tracking.events import Message

    if isinstance(event, Message) and event.level == "info":
        typer.echo(event.text, err=True)


def _score(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def summary(report: dict[str, Any]) -> None:
    """One table: each task, model and optimizer over its seeds; then the counts and files."""
    from rich import box
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"sweep {report['name']} · {report['executor']} · test scores "
                        "over seeds", box=box.SIMPLE_HEAD, padding=(0, 1), pad_edge=False)
    for column in ("task", "model", "optimizer", "runs", "seed", "best ± sd", "diff",
                   "calls", "usd"):
        text = column in ("task", "model", "optimizer")
        table.add_column(column, justify="left" if text else "right", overflow="fold",
                         no_wrap=not text, min_width=len(column))
    for row in report["summary"]:
        best = ("-" if row["best_test_mean"] is None else
                f"{row['best_test_mean']:.3f} ± {row['best_test_sd']:.3f}")
        diff = "-" if row["diff_mean"] is None else f"{row['diff_mean']:+.3f}"
        runs = f"{row['runs']}" + (f" ({row['failed']} failed)" if row["failed"] else "")
        table.add_row(row["task"], row["model"], row["optimizer"], runs,
                      _score(row["seed_test"]), best, diff, str(row["calls"]),
                      f"{row['cost_usd']:.2f}")
    console = Console()
    console.print(table)
    console.print(f"{report['finished']} ran, {report['reused']} already finished, "
                  f"{report['failed']} failed · {report['json']}", highlight=False)
    for row in report["runs"]:
        if row["status"] == "failed":
            console.print(f"[red]failed[/red] {row['task']} · {row['model']} · "
                          f"{row['optimizer']} · seed {row['seed']}: {row['error']}",
                          highlight=False)
