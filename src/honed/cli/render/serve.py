"""Terminal output of ``honed keys``, ``honed log`` and ``honed harvest`` (plain dicts in)."""

from __future__ import annotations

import csv
import io
import time
from typing import Any

import typer

LOG_COLUMNS = ("id", "created", "prompt", "version", "alias", "latency_s", "cost_usd",
               "feedback", "output")


def _when(ts: float | None) -> str:
    return "-" if ts is None else time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ts))


def _console() -> Any:
    from rich.console import Console

    return Console(highlight=False, soft_wrap=True)


def new_key(key_id: str, scope: str, name: str, plaintext: str) -> None:
    """The summary, then the key alone on the last line of stdout."""
    typer.echo(f"created API key {key_id} (name: {name}, scope: {scope})")
    typer.echo("store it now: it is not shown again")
    typer.echo(plaintext)


def keys_table(rows: list[dict[str, Any]]) -> None:
    from rich.table import Table

    if not rows:
        typer.echo("no API keys yet; create one with `honed keys create --scope serve`")
        return
    table = Table("id", "name", "scope", "created", "last used", "revoked")
    for row in rows:
        table.add_row(row["id"], row["name"], row["scope"], _when(row["created"]),
                      _when(row["last_used"]), _when(row["revoked_at"]))
    _console().print(table)


def revoked(row: dict[str, Any]) -> None:
    typer.echo(f"revoked API key {row['id']} (name: {row['name']}, scope: {row['scope']}) "
               f"at {_when(row['revoked_at'])}")


def _feedback_text(items: list[dict[str, Any]]) -> str:
    parts = []
    for item in items:
        for key in ("score", "label", "correction"):
            if item.get(key) is not None:
                parts.append(f"{key}={item[key]}")
    return "; ".join(parts) or ("-" if not items else "comment")


def log_table(rows: list[dict[str, Any]]) -> None:
    from rich.table import Table

    if not rows:
        typer.echo("no requests match")
        return
    table = Table(*LOG_COLUMNS)
    for row in rows:
        output = row["output"] if row["error"] is None else f"error: {row['error']}"
        table.add_row(row["id"], _when(row["created"]), row["prompt"], str(row["version"]),
                      row["alias"] or "-", _num(row["latency_s"]), _num(row["cost_usd"]),
                      _feedback_text(row["feedback"]), _short(output))
    _console().print(table)


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:.4g}"


def _short(text: str | None, width: int = 60) -> str:
    if text is None:
        return "-"
    flat = " ".join(text.split())
    return flat if len(flat) <= width else flat[:width - 1] + "…"


def log_csv(rows: list[dict[str, Any]], columns: list[str]) -> None:
    """One CSV line per request; nested values (inputs, metadata, feedback) as JSON."""
    import json

    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, extrasaction="ignore")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: json.dumps(v, ensure_ascii=False) if isinstance(v, dict | list)
                         else v for k, v in row.items()})
    typer.echo(buffer.getvalue(), nl=False)


def harvested(summary: dict[str, Any]) -> None:
    typer.echo(f"wrote {summary['rows']} rows to {summary['path']} "
               f"({summary['requests']} requests with feedback; {summary['duplicates']} "
               f"duplicate inputs merged; {summary['no_target']} without a target)")
    if summary.get("hint"):
        typer.echo(summary["hint"], err=True)
