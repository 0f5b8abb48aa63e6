"""Terminal output of ``honed apply``, ``honed gate`` and ``honed abtest`` (plain dicts in)."""

from __future__ import annotations

from typing import Any

_STATUS_STYLE = {"pass": "green", "fail": "red", "skip": "dim"}
_OUTCOME_STYLE = {"PASS": "bold green", "WARN": "bold yellow", "FAIL": "bold red",
                  "BLOCK_DEPLOY": "bold red"}


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:.4g}"


def apply_summary(data: dict[str, Any]) -> None:
    """The diff written (or that a dry run would write) and where the backup went."""
    from rich.console import Console
    from rich.syntax import Syntax

    console = Console()
    label = (data["source"] or {}).get("label", "")
    if not data["changed"]:
        console.print(f"{data['task_file']} already has this prompt ({label}); nothing to do",
                      highlight=False)
        return
    console.print(Syntax(data["diff"], "diff", theme="ansi_dark", background_color="default"))
    if data["dry_run"]:
        console.print(f"dry run: {data['task_file']} not changed", highlight=False)
        return
    console.print(f"applied {label} -> {data['task_file']} (backup: {data['backup']})",
                  highlight=False)
    expected = (data["source"] or {}).get("run_test_score")
    if expected is not None:
        console.print(f"the run scored {expected:.3f} on test; check with: honed eval "
                      f"{data['task_file']}", highlight=False)


def gate_table(data: dict[str, Any]) -> None:
    """One row per gate, the production score when compared, notes and the outcome."""
    from rich.console import Console
    from rich.table import Table

    lo, hi = data["ci95"]
    table = Table("gate", "value", "threshold", "status", "action", "detail",
                  title=f"{data['task']} · {data['split']} · score {data['score']:.3f} "
                        f"[{lo:.3f}, {hi:.3f}] n={data['n']} errors={data['errors']}")
    for g in data["gates"]:
        style = _STATUS_STYLE[g["status"]]
        table.add_row(g["gate"], _num(g["value"]),
                      f"{'>=' if g['bound'] == 'min' else '<='} {g['threshold']:g}",
                      f"[{style}]{g['status'].upper()}[/{style}]", g["action"], g["detail"])
    console = Console()
    console.print(table)
    if data["production"]:
        p = data["production"]
        console.print(f"production ({data['against']}): {p['score']:.3f} "
                      f"[{p['ci95'][0]:.3f}, {p['ci95'][1]:.3f}] n={p['n']} errors={p['errors']}",
                      highlight=False)
    for note in data["notes"]:
        console.print(f"note: {note}", highlight=False)
    outcome = data["outcome"]
    style = _OUTCOME_STYLE[outcome]
    console.print(f"[{style}]{outcome}[/{style}] (exit {data['exit_code']})")
    if data["recorded"]:
        console.print(f"recorded on {data['recorded']} (tags honed.gate, honed.blocked)",
                      highlight=False)


def abtest_summary(data: dict[str, Any]) -> None:
    """Both prompts side by side, the paired difference, the tests and the verdict."""
    from rich.console import Console
    from rich.table import Table

    models = {"a": data["model"], "b": data.get("model_b") or data["model"]}
    two = models["a"] != models["b"]
    title = (f"A/B · {data['task']} · {data['split']}" if two
             else f"A/B · {data['task']} · {data['split']} · {data['model']}")
    table = Table("", "prompt", "score [95% CI]", "n", "errors", "$/example", "p50 s", "p95 s",
                  title=title)
    for key in ("a", "b"):
        v, source = data[key], data["sources"].get(key.upper(), {})
        table.add_row(key.upper(), source.get("label", v["candidate_id"][:8]),
                      f"{v['score']:.3f} [{v['ci95'][0]:.3f}, {v['ci95'][1]:.3f}]",
                      str(v["n"]), str(v["errors"]), f"{v['cost_per_example_usd']:.6f}",
                      f"{v['latency_p50_s']:.3f}", f"{v['latency_p95_s']:.3f}")
    console = Console()
    if two:
        console.print(f"models: A {models['a']} · B {models['b']}", highlight=False,
                      markup=False, soft_wrap=True)
    console.print(table)
    console.print(f"B - A: {data['diff']:+.3f} [{data['ci95'][0]:+.3f}, {data['ci95'][1]:+.3f}]"
                  f" (paired, n={data['n_paired']})", highlight=False)
    for name, t in data["tests"].items():
        mark = " <- chosen" if name == data["test"] else ""
        console.print(f"  {t['title']}: p={t['p_value']:.3g}{mark}", highlight=False)
    for note in data["notes"]:
        console.print(f"note: {note}", highlight=False)
    style = "bold green" if data["winner"] else "bold"
    console.print(f"[{style}]{data['verdict']}[/{style}]", highlight=False)
