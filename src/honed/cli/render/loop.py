"""Terminal output of ``honed loop`` (plain dicts in)."""

from __future__ import annotations

import json
import time
from typing import Any

import typer


def _when(ts: float | None) -> str:
    return "-" if ts is None else time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ts))


def _detail(detail: dict[str, Any], width: int = 100) -> str:
    text = json.dumps(detail, ensure_ascii=False, default=str, separators=(", ", ": "))
    return text if len(text) <= width else text[:width - 3] + "..."


def _events_table(events: list[dict[str, Any]]) -> Any:
    from rich.table import Table

    table = Table(title="events (newest first)", title_justify="left")
    for column in ("when", "cycle", "step", "status", "calls", "detail"):
        table.add_column(column)
    for e in events:
        table.add_row(_when(e["created"]), str(e["cycle"]), e["step"], e["status"],
                      str(e["calls"]), _detail(e["detail"]))
    return table


def tick(data: dict[str, Any]) -> None:
    monitor = data.get("monitor") or {}
    typer.echo(f"loop {data['loop']}: cycle {data['cycle']}, {data['action']} "
               f"(open alarms: {monitor.get('open_alarms', 0)}, new: "
               f"{len(monitor.get('new_alarms') or [])}, scored: {monitor.get('scored', 0)})")
    for event in data["events"]:
        typer.echo(f"  {event['step']}: {event['status']} {_detail(event['detail'])}")


def status(data: dict[str, Any]) -> None:
    from rich.console import Console

    state, budget = data["state"], data["budget_per_day"]
    typer.echo(f"loop {data['loop']} on prompt {data['prompt']}: cycle {state['cycle']}")
    if state["running_experiment"]:
        typer.echo(f"  experiment running: {state['running_experiment']}")
    elif state["last_outcome"]:
        typer.echo(f"  last cycle ended: {state['last_outcome']} at {_when(state['last_end'])}")
    typer.echo(f"  spent in the last 24 h: {state['spent_calls_24h']} of {budget['max_calls']} "
               f"calls, ${state['spent_usd_24h']:.4f}")
    if data["events"]:
        Console(highlight=False, soft_wrap=True).print(_events_table(data["events"]))
    else:
        typer.echo("  no event yet")
