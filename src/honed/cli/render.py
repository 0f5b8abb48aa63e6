"""The only place that prints. Rich tables and progress on a terminal; plain JSON with --json."""

from __future__ import annotations

import json
import sys
from typing import Any

from honed.tracking.events import EvalStarted, Event, ExampleScored


def error(text: str) -> None:
    print(text, file=sys.stderr)


def json_out(data: Any) -> None:
    print(json.dumps(data, indent=2, ensure_ascii=False, default=str))


def interactive() -> bool:
    return sys.stderr.isatty()


class Progress:
    """A rich progress bar with ETA and live spend, driven by engine events (stderr)."""

    def __init__(self) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        self._bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                             TimeElapsedColumn(), TextColumn("eta"), TimeRemainingColumn(),
                             TextColumn("{task.fields[spend]}"),
                             console=Console(stderr=True), transient=True)
        self._tasks: dict[str, Any] = {}

    def __enter__(self) -> Progress:
        self._bar.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._bar.stop()

    def __call__(self, event: Event) -> None:
        if isinstance(event, EvalStarted):
            self._tasks[event.label] = self._bar.add_task(event.label, total=event.total,
                                                          spend="")
        elif isinstance(event, ExampleScored) and event.label in self._tasks:
            self._bar.update(self._tasks[event.label], advance=1,
                             spend=f"{event.calls} calls ${event.cost_usd:.4f}")


def eval_summary(data: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    lo, hi = data["ci95"]
    table = Table(title=f"{data['task']} · {data['split']} · {data['model']}", show_header=False)
    rows = [
        ("score", f"{data['score']:.3f}  (95% CI {lo:.3f}–{hi:.3f}, n={data['n']})"),
        ("pass rate", f"{data['pass_rate']:.3f}"),
        *[(f"  {name}", f"{value:.3f}") for name, value in data["per_eval"].items()],
        ("errors", f"{data['errors']}  (format violations {data['format_violations']}, "
                   f"skipped {data['skipped']})"),
        ("calls", f"{data['calls']}  (cache hits {data['cache_hits']}, "
                  f"retries {data['retries']})"),
        ("tokens", f"{data['input_tokens']} in / {data['output_tokens']} out"),
        ("cost", f"${data['cost_usd']:.4f}"),
        ("latency", f"p50 {data['latency_p50_s']:.3f}s  p95 {data['latency_p95_s']:.3f}s"),
        ("wall", f"{data['wall_s']:.2f}s"),
    ]
    if data.get("carving"):
        rows.append(("splits", data["carving"]))
    if data.get("stopped"):
        rows.append(("stopped", f"budget limit {data['stopped']} reached"))
    for name, value in rows:
        table.add_row(name, value)
    console = Console()
    console.print(table)
    for item in data.get("error_examples", []):
        console.print(f"[red]error[/red] {item['example_id']}: {item['error']}", highlight=False)
