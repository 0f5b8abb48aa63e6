"""``honed optimizers`` on a terminal: each optimizer, what it does, its parameters and defaults."""

from __future__ import annotations

import json
from typing import Any

TRAIT_NOTES = {"needs_reflection": "needs a reflection model",
               "needs_demo_target": "shows demos: needs an answer template"}


def _default(param: dict[str, Any]) -> str:
    return "required" if param["required"] else json.dumps(param["default"])


def _about(row: dict[str, Any]) -> str:
    notes = [TRAIT_NOTES.get(t, t) for t in row["traits"]]
    if row["plugin"]:
        notes.append(f"plugin from {row['plugin']}")
    if row.get("error"):
        return f"[red]failed to load[/red]: {row['error']}"
    return row["summary"] + "".join(f" [dim]({note})[/dim]" for note in notes)


def optimizers_table(rows: list[dict[str, Any]]) -> None:
    from rich.console import Console
    from rich.table import Column, Table

    table = Table(Column("optimizer", no_wrap=True), Column("parameter", no_wrap=True),
                  Column("default", no_wrap=True), Column("meaning", ratio=1),
                  caption="set in a task file, optimizer: {name: NAME, KEY: VALUE}, or with "
                          "honed optimize --optimizer NAME --param KEY=VALUE")
    for row in rows:
        table.add_row(f"[bold]{row['name']}[/bold]", "", "", _about(row),
                      end_section=not row["params"])
        for i, param in enumerate(row["params"]):
            table.add_row("", param["name"], _default(param), f"[dim]{param['description']}[/dim]",
                          end_section=i == len(row["params"]) - 1)
    Console().print(table)
