"""Terminal output of ``honed monitor`` (plain dicts in)."""

from __future__ import annotations

import time
from typing import Any

import typer


def _num(value: float | None, fmt: str = "{:.3f}") -> str:
    return "-" if value is None else fmt.format(value)


def _when(ts: float | None) -> str:
    return "-" if ts is None else time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ts))


def _last(series: list[dict[str, Any]], key: str) -> float | None:
    values = [p[key] for p in series if p.get(key) is not None]
    return values[-1] if values else None


def _versions_table(report: dict[str, Any]) -> Any:
    from rich.table import Table

    table = Table(title=f"{report['prompt']}", title_justify="left")
    for column in ("version", "requests", "errors", "quality (n)", "reference", "p95 latency",
                   "cost/request", "drift"):
        table.add_column(column, justify="left" if column == "drift" else "right")
    for v in report["versions"]:
        q, shift = v["quality"], v["shift"]
        drift = ", ".join(k for k, on in (("quality", q["alarmed"]),
                                          ("inputs", shift["alarmed"])) if on) or "none"
        table.add_row(str(v["version"]), str(v["requests"]), str(v["errors"]),
                      f"{_num(q['mean'])} ({q['n']})", _num(q["reference"]),
                      _num(_last(v["series"], "latency_p95_s"), "{:.3f}s"),
                      _num(_last(v["series"], "cost_per_request"), "${:.5f}"), drift)
    return table


def _alarm_line(alarm: dict[str, Any]) -> str:
    ev = alarm["evidence"]
    if alarm["kind"] == "quality":
        what = (f"quality {_num(ev.get('recent_mean'))} over the last {ev.get('recent_n')} "
                f"against a reference of {_num(ev.get('reference'))} "
                f"(CUSUM {_num(ev.get('statistic'), '{:.2f}')} >= "
                f"{_num(ev.get('threshold'), '{:.2f}')})")
    else:
        measures = ", ".join(f"{k} {v:.3f}" for k, v in (ev.get("measures") or {}).items())
        what = f"shift in {ev.get('worst')}: {measures}"
    return (f"  ALARM #{alarm['id']} v{alarm['version']} {alarm['kind']} at "
            f"{_when(alarm.get('at'))}: {what}")


def reports(data: list[dict[str, Any]]) -> None:
    from rich.console import Console

    console = Console(highlight=False, soft_wrap=True)
    if not data:
        typer.echo("no prompt in the production log yet")
    for report in data:
        console.print(_versions_table(report))
        if report.get("scored"):
            typer.echo(f"  scored {report['scored']} request(s) this pass")
        for alarm in report["alarms"]:
            typer.echo(_alarm_line(alarm))
        if not report["alarms"]:
            typer.echo("  no open alarm")
