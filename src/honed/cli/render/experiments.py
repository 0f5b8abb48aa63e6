"""Terminal output of ``honed experiment ...`` and ``honed rollback`` (plain dicts in)."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

import typer


def _console() -> Any:
    from rich.console import Console

    return Console(highlight=False, soft_wrap=True)


def _cells(*values: str) -> list[Any]:
    """Table cells as plain text (names and refs are never read as markup)."""
    from rich.text import Text

    return [Text(str(v)) for v in values]


def _when(ts: float | None) -> str:
    return "-" if ts is None else time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ts))


def _num(value: Any, spec: str = ".4g") -> str:
    return "-" if value is None else format(float(value), spec)


def _limits(exp: Mapping[str, Any]) -> str:
    parts = [f"max {exp['max_requests']} requests" if exp.get("max_requests") else "",
             f"max {exp['max_days']:g} days" if exp.get("max_days") else ""]
    return ", ".join(p for p in parts if p) or "none"


def started(exp: Mapping[str, Any]) -> None:
    typer.echo(f"started experiment {exp['name']}: {exp['control_ref']} "
               f"(version {exp['control_version']}) vs {exp['treatment_ref']} "
               f"(version {exp['treatment_version']}), {exp['split']:.0%} of users to the "
               f"treatment, metric {exp['metric']} per {exp.get('unit') or 'request'}")
    guardrails = ", ".join(exp.get("guardrail_text") or []) or "none"
    typer.echo(f"guardrails: {guardrails}; limits: {_limits(exp)}")
    typer.echo(f"requests for {exp['control_ref']} through `honed serve` are split now; "
               f"see it with `honed experiment status {exp['name']}`")


def _arms_table(analysis: Mapping[str, Any]) -> Any:
    from rich.table import Table

    seq = analysis.get("sequential") or {}
    table = Table("arm", "requests", "units", "metric n", "metric mean", "error rate",
                  "p95 latency", "cost/request",
                  title=f"metric: {analysis.get('metric')} per {analysis.get('unit') or 'request'}")
    for arm, stats in (analysis.get("arms") or {}).items():
        table.add_row(*_cells(arm, str(stats["requests"]), str(stats["units"]),
                      str(seq.get(f"n_{arm}", "-")), _num(seq.get(f"mean_{arm}")),
                      _num(stats.get("error_rate")),
                      "-" if stats.get("latency_p95_s") is None
                      else f"{stats['latency_p95_s']:.3f}s",
                      _num(stats.get("cost_per_request"))))
    return table


def _analysis_lines(analysis: Mapping[str, Any]) -> list[str]:
    seq, srm = analysis.get("sequential") or {}, analysis.get("srm") or {}
    ci = seq.get("ci") or [None, None]
    lines = [f"difference (treatment - control): {_num(seq.get('diff'), '+.4f')}  "
             f"confidence sequence [{_num(ci[0], '+.4f')}, {_num(ci[1], '+.4f')}]  "
             f"p = {_num(seq.get('p_value'))}  (alpha {seq.get('alpha', '-')}; valid at "
             "every check)",
             f"sample ratio: p = {_num(srm.get('p_value'))}"
             + ("  ALARM: the split is off, results are not trustworthy"
                if srm.get("alarm") else "  ok")]
    for check in analysis.get("guardrails") or []:
        lines.append(f"guardrail {check['guardrail']}: {check['state']} "
                     f"(treatment {_num(check['value'])}, n={check['n']}, judged from "
                     f"n={check['min_n']})")
    verdict = analysis.get("verdict") or {}
    lines.append(f"verdict: {verdict.get('outcome', '-')} ({verdict.get('reason', '')}) "
                 f"checked {_when(analysis.get('checked'))}")
    return lines


def _decision_line(d: Mapping[str, Any]) -> str:
    undone = f" (undone by decision {d['undone_by']})" if d.get("undone_at") else ""
    return (f"decision {d['id']} {_when(d['created'])}: {d['kind']} {d['prompt']}@{d['alias']} "
            f"{d['from_version']} -> {d['to_version']}{undone}")


def status(data: Mapping[str, Any]) -> None:
    from rich.text import Text

    exp, analysis = data["experiment"], data.get("analysis")
    console = _console()
    console.print(Text(f"{exp['name']} · {exp['status']} · {exp['prompt']}: "
                       f"{exp['control_ref']} (v{exp['control_version']}) vs "
                       f"{exp['treatment_ref']} (v{exp['treatment_version']}) · split "
                       f"{exp['split']:.0%} · since {_when(exp['created'])}"
                       + (f" · ended {_when(exp['ended'])}" if exp.get("ended") else ""),
                       style="bold"))
    console.print(Text(f"guardrails: {', '.join(exp.get('guardrail_text') or []) or 'none'}; "
                       f"limits: {_limits(exp)}"))
    if analysis:
        console.print(_arms_table(analysis))
        for line in _analysis_lines(analysis):
            console.print(Text(line))
    else:
        console.print(Text("not measured yet"))
    for decision in data.get("decisions") or []:
        console.print(Text(_decision_line(decision)))


def stopped(decision: Mapping[str, Any]) -> None:
    typer.echo(f"stopped experiment {decision['experiment']}: routing ended, "
               f"{decision['prompt']}@{decision['alias']} stays at version "
               f"{decision['to_version']} (decision {decision['id']})")


def listing(data: Mapping[str, Any]) -> None:
    from rich.table import Table

    rows: Sequence[Mapping[str, Any]] = data["experiments"]
    if not rows:
        typer.echo("no experiments yet; start one with `honed experiment start`")
        return
    table = Table("name", "status", "control", "treatment", "split", "metric", "started",
                  "ended")
    for exp in rows:
        table.add_row(*_cells(exp["name"], exp["status"],
                      f"{exp['control_ref']} (v{exp['control_version']})",
                      f"{exp['treatment_ref']} (v{exp['treatment_version']})",
                      f"{exp['split']:.0%}", exp["metric"], _when(exp["created"]),
                      _when(exp["ended"])))
    _console().print(table)


def checked(data: Mapping[str, Any]) -> None:
    reports = data["checked"]
    if not reports:
        typer.echo("no running experiments")
        return
    for report in reports:
        exp, decision = report["experiment"], report.get("decision")
        if report.get("error"):
            typer.echo(f"{exp['name']}: could not be checked: {report['error']}", err=True)
        elif decision:
            typer.echo(f"{exp['name']}: {exp['status']} -> {decision['kind']} "
                       f"{decision['prompt']}@{decision['alias']} {decision['from_version']} "
                       f"-> {decision['to_version']} (decision {decision['id']})")
        elif report.get("analysis"):
            verdict = report["analysis"]["verdict"]
            typer.echo(f"{exp['name']}: running ({verdict['reason']}; "
                       f"{report['analysis']['requests']} requests)")
        else:
            typer.echo(f"{exp['name']}: {exp['status']}")


def rolled_back(decision: Mapping[str, Any]) -> None:
    undid = decision.get("undid") or {}
    typer.echo(f"rolled back {decision['prompt']}@{decision['alias']}: version "
               f"{decision['from_version']} -> {decision['to_version']} (undid decision "
               f"{undid.get('id')} of experiment {undid.get('experiment') or '-'}; recorded as "
               f"decision {decision['id']})")
