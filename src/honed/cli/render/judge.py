"""Terminal output of ``honed judge agreement`` and ``honed judge align`` (plain dicts in).

Labels, inputs, outputs, reasons and comments come from users and models: they are printed as
plain text, never as markup.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def _console() -> Any:
    from rich.console import Console

    return Console(highlight=False, soft_wrap=True)


def _num(value: float | None, digits: int = 3) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _ci(value: float | None, ci: Sequence[float | None] | None) -> str:
    if value is None:
        return "- (undefined)"
    if not ci or ci[0] is None or ci[1] is None:
        return _num(value)
    return f"{_num(value)} [{_num(ci[0])}, {_num(ci[1])}]"


def _scale(scale: dict[str, Any]) -> str:
    kind = "numbers" if scale["numeric"] else ("ordered labels" if scale["ordinal"] else "labels")
    return f"{' < '.join(scale['labels'])} ({kind})"


def _stat_rows(data: dict[str, Any]) -> list[tuple[str, str]]:
    rows = [("accuracy", _ci(data["accuracy"], data["accuracy_ci"])),
            ("Cohen's kappa", _ci(data["kappa"], data["kappa_ci"]))]
    if data.get("kappa_linear") is not None or data.get("kappa_quadratic") is not None:
        rows.append(("weighted kappa", f"linear {_num(data.get('kappa_linear'))}, quadratic "
                                       f"{_num(data.get('kappa_quadratic'))}"))
    if data.get("spearman") is not None:
        rows.append(("Spearman's rho", _num(data["spearman"])))
    if data.get("alpha") is not None or data.get("alpha_with_judge") is not None:
        rows.append(("Krippendorff's alpha", f"people {_num(data.get('alpha'))}, people + "
                                             f"judge {_num(data.get('alpha_with_judge'))}"))
    if data.get("bias") is not None:
        rows.append(("bias (judge - people)", _ci(data["bias"], data.get("bias_ci"))))
    shares = data.get("shares") or {}
    rows.append(("shares (people / judge)", ", ".join(
        f"{label} {s['human']:.0%}/{s['judge']:.0%}" for label, s in shares.items())))
    return rows


def _confusion(data: dict[str, Any]) -> Any:
    from rich.table import Table
    from rich.text import Text

    table = Table(title="confusion (rows: people, columns: judge)")
    table.add_column("")
    for label in data["labels"]:
        table.add_column(Text(str(label)), justify="right")
    for label, row in zip(data["labels"], data["confusion"], strict=True):
        table.add_row(Text(str(label)), *(str(c) for c in row))
    return table


def agreement(data: dict[str, Any]) -> None:
    """``judge agreement``: the statistics, then the confusion matrix and notes."""
    from rich.table import Table
    from rich.text import Text

    console = _console()
    extra = ""
    if data.get("items") is not None:
        extra = f", {data['items']} items" + (f", {data['raters']} raters"
                                              if data.get("raters") else "")
    table = Table(title=Text(f"agreement · {data['source']} · n={data['n']}{extra}"),
                  show_header=False)
    for name, value in [("scale", _scale(data["scale"])), *_stat_rows(data)]:
        table.add_row(name, Text(value))
    console.print(table)
    console.print(_confusion(data))
    for note in data.get("notes") or []:
        console.print(f"note: {note}", markup=False)


def _side_rows(before: dict[str, Any] | None, after: dict[str, Any] | None,
               ) -> list[tuple[str, str, str]]:
    def get(side: dict[str, Any] | None, key: str, ci: str | None = None) -> str:
        if side is None:
            return "not measured"
        return _ci(side.get(key), side.get(ci)) if ci else _num(side.get(key))

    rows = [("n", *(str((s or {}).get("n", "-")) for s in (before, after))),
            ("Cohen's kappa", get(before, "kappa", "kappa_ci"), get(after, "kappa", "kappa_ci")),
            ("accuracy", get(before, "accuracy", "accuracy_ci"),
             get(after, "accuracy", "accuracy_ci"))]
    if (after or {}).get("kappa_quadratic") is not None:
        rows.append(("quadratic kappa", get(before, "kappa_quadratic"),
                     get(after, "kappa_quadratic")))
    rows.append(("unparsed / errors", *(f"{s['unparsed']} / {s['errors']}" if s else "-"
                                        for s in (before, after))))
    return rows


def _held_out(data: dict[str, Any]) -> Any:
    from rich.table import Table
    from rich.text import Text

    table = Table(title=f"held-out labels (test, n={data['labels']['test']})")
    for column in ("", "before (rubric as written)", "after (aligned)"):
        table.add_column(column)
    for name, before, after in _side_rows(data.get("before"), data.get("after")):
        table.add_row(name, Text(before), Text(after))
    return table


def _disagreements(rows: list[dict[str, Any]]) -> Any:
    from rich.table import Table
    from rich.text import Text

    table = Table(title="largest disagreements left (held out)")
    for column in ("id", "people", "judge", "judge's reason", "person's comment", "output"):
        table.add_column(column)
    for row in rows:
        table.add_row(*(Text(str(row.get(k) or "")) for k in
                        ("id", "human", "judge", "reason", "comment", "output")))
    return table


def _registered(console: Any, data: dict[str, Any]) -> None:
    reg = data.get("registered")
    if not reg:
        return
    passed = reg["gate"] == "pass"
    gate = (f"kappa {_num(reg['kappa'])} >= {data['min_kappa']:g}: may be promoted" if passed
            else f"blocked from production: {', '.join(reg['blocked'])} "
                 f"(kappa {_num(reg['kappa'])})")
    console.print(f"registered: {reg['name']} version {reg['version']} (alias candidate, "
                  f"{reg['backend']} registry); {gate}", markup=False)
    promoted = data.get("promoted")
    if promoted:
        console.print(f"promoted: {reg['name']}@production -> version {promoted['version']}",
                      markup=False)
    elif passed:
        console.print(f"promote: honed registry promote {reg['name']} {reg['version']}",
                      markup=False)
    if passed:
        console.print(f"use it in a task: evals: [{{type: llm_judge, prompt: {reg['name']}"
                      "@production}]", markup=False)


def alignment(data: dict[str, Any]) -> None:
    """``judge align``: held-out agreement before and after, the change, what is left, and
    where the judge went."""
    console = _console()
    labels = data["labels"]
    console.print(f"{data['task']} · eval {data['eval']} -> {data['judge']} · model "
                  f"{data['model']}", markup=False)
    console.print(f"labels {labels['n']} (train {labels['train']}, val {labels['val']}, "
                  f"test {labels['test']}) · scale {_scale(data['scale'])}", markup=False)
    console.print(_held_out(data))
    change = data.get("change")
    if change and change.get("diff") is not None:
        lo, hi = change["ci95"]
        console.print(f"kappa change after - before: {change['diff']:+.3f} [{lo:+.3f}, "
                      f"{hi:+.3f}] (paired bootstrap, n={change['n']})", markup=False)
    if data.get("disagreements"):
        console.print(_disagreements(data["disagreements"]))
    run = data["run"]
    console.print(f"run {run['run_id']} · {run['optimizer']} · {run['calls']} calls "
                  f"({run['cache_hits']} cached) · ${run['cost_usd'] or 0:.4f} · "
                  f"{run['wall_s'] or 0:.1f}s"
                  + (f" · stopped by {run['stopped']}" if run.get("stopped") else ""),
                  markup=False)
    _registered(console, data)
    if data.get("refused"):
        console.print(data["refused"], markup=False)
    for warning in data.get("warnings") or []:
        console.print(f"warning: {warning}", markup=False)
