"""The only place that prints. Rich tables and progress on a terminal; plain JSON with --json."""

from __future__ import annotations

import json
import sys
from typing import Any, Self

from honed.tracking.events import (
    CandidateEvaluated,
    EvalStarted,
    Event,
    ExampleScored,
    PhaseStarted,
)


def error(text: str) -> None:
    print(text, file=sys.stderr)


def json_out(data: Any) -> None:
    print(json.dumps(data, indent=2, ensure_ascii=False, default=str))


def line(text: str) -> None:
    """One line on stdout, flushed at once (a parent process may be waiting for it); styles
    only on a terminal."""
    import typer

    typer.echo(text)


def interactive() -> bool:
    return sys.stderr.isatty()


class _LiveBar:
    """A rich progress bar on stderr, live between ``__enter__`` and ``__exit__``."""

    _bar: Any

    def __enter__(self) -> Self:
        self._bar.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._bar.stop()


class Progress(_LiveBar):
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
        ("score", f"{data['score']:.3f}  (95% CI {lo:.3f}–{hi:.3f}, n={data['n']}, "
                  f"errors={data['errors']})"),
        ("pass rate", f"{data['pass_rate']:.3f}"),
        *[(f"  {name}", f"{value:.3f}") for name, value in data["per_eval"].items()],
        ("errors", f"{data['errors']}  (format violations {data['format_violations']}, "
                   f"skipped {data['skipped']})"),
        ("calls", f"{data['calls']}  (cache hits {data['cache_hits']}, "
                  f"retries {data['retries']}"
                  + (f", rate-limited: in flight halved {data['throttled']}x"
                     if data.get("throttled") else "") + ")"),
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
    if data.get("output_file"):
        console.print(f"results of every example: {data['output_file']}", highlight=False,
                      markup=False, soft_wrap=True)
    for item in data.get("error_examples", []):
        console.print(f"[red]error[/red] {item['example_id']}: {item['error']}", highlight=False)
    _registry_notes(console, data)


def _registry_notes(console: Any, data: dict[str, Any]) -> None:
    reg = data.get("registered")
    if reg:
        alias = f" (alias {reg['alias']})" if reg.get("alias") else ""
        console.print(f"registry: {reg['name']} version {reg['version']}{alias}")
        if reg.get("gate"):
            blocked = reg.get("blocked") or []
            note = (f"; blocked from production by {', '.join(blocked)} (promote needs --force)"
                    if blocked else "")
            console.print(f"gates on test: {reg['gate']}{note}", highlight=False)
    for warning in data.get("warnings") or []:
        console.print(f"[yellow]warning[/yellow] {warning}", highlight=False)


class SearchProgress(_LiveBar):
    """Live optimization progress: phase, iteration, best so far, calls and spend vs budget, ETA."""

    def __init__(self, total_calls: int | None) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        columns = [TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                   TimeElapsedColumn(), TextColumn("eta"), TimeRemainingColumn(),
                   TextColumn("{task.fields[info]}")]
        self._bar = Progress(*columns, console=Console(stderr=True), transient=True)
        self._task = self._bar.add_task("starting", total=total_calls, info="")
        self._phase, self._best, self._iteration, self._cost = "", None, 0, 0.0

    def __call__(self, event: Event) -> None:
        if isinstance(event, PhaseStarted):
            self._phase = event.phase
        elif isinstance(event, CandidateEvaluated):
            self._iteration, self._cost = event.iteration, event.cost_usd
            if event.split == "val":
                self._best = event.best_so_far
            self._bar.update(self._task, completed=event.calls)
        elif isinstance(event, ExampleScored):
            self._bar.update(self._task, completed=event.calls)
        best = f"best val {self._best:.3f}" if self._best is not None else ""
        self._bar.update(self._task, description=f"{self._phase} it {self._iteration}",
                         info=f"{best} ${self._cost:.4f}")


def _split_text(stats: dict[str, Any] | None) -> str:
    if not stats:
        return "-"
    lo, hi = stats["ci95"]
    return (f"{stats['score']:.3f} [{lo:.3f}, {hi:.3f}] n={stats['n']} "
            f"errors={stats.get('errors', 0)}")


def optimize_summary(data: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    table = Table(title=f"run {data['run_id']} · {data['optimizer']}")
    table.add_column("")
    table.add_column("val")
    table.add_column("test (held out)")
    for name in ("seed", "best"):
        table.add_row(name, _split_text(data[name]["val"]), _split_text(data[name]["test"]))
    console.print(table)
    diff = data["test_diff"]
    verdict = "significant" if diff["significant"] else "not significant"
    console.print(f"test diff best - seed: {diff['diff']:+.3f} "
                  f"[{diff['ci95'][0]:+.3f}, {diff['ci95'][1]:+.3f}] (paired, n={diff['n']}, "
                  f"{verdict})")
    console.print(f"calls {data['calls']} (rollouts {data['rollouts']}, cache hits "
                  f"{data['cache_hits']}), ${data['cost_usd']:.4f}, {data['wall_s']:.1f}s, "
                  f"{data['candidates']} candidates"
                  + (f", stopped by {data['stopped']}" if data.get("stopped") else ""))
    prompt = data["best"]["prompt"]
    console.print(f"[bold]best system:[/bold] {prompt['system']}", highlight=False)
    console.print(f"[bold]best user:[/bold] {prompt['user']}", highlight=False)
    if prompt["demos"]:
        console.print(f"[bold]demos:[/bold] {', '.join(prompt['demos'])}", highlight=False)
    if data.get("output"):
        console.print(f"written: {data['output']}")
    _registry_notes(console, data)


def plan(data: dict[str, Any]) -> None:
    est = data["estimate"]
    hi_calls = est["calls"][1] if est["calls"][1] is not None else "unbounded"
    hi_cost = f"${est['cost_usd'][1]:.4f}" if est["cost_usd"][1] is not None else "unbounded"
    print(f"task {data['task']} · optimizer {data['optimizer']} ({data['schedule']})")
    print(f"model {data['model']} · reflection {data['reflection_model'] or 'none'} · "
          f"seed {data['seed']}")
    sp = data["splits"]
    print(f"splits train {sp['train']} / val {sp['val']} / test {sp['test']}"
          + (f" ({sp['carving']})" if sp["carving"] else ""))
    print(f"budget {data['budget']}")
    print(f"estimate: {est['calls'][0]}-{hi_calls} calls, ${est['cost_usd'][0]:.4f}-{hi_cost}")


def runs_table(rows: list[dict[str, Any]]) -> None:
    from rich.console import Console
    from rich.table import Column, Table

    width = max((len(row["run_id"]) for row in rows), default=3)
    table = Table(Column("run", no_wrap=True, min_width=width), "task", "optimizer", "status",
                  "best test")
    for row in rows:
        table.add_row(row["run_id"], row["task"], row["optimizer"] or "", row["status"],
                      _split_text(row["best_test"]))
    Console().print(table)


def run_detail(data: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    if data["result"]:
        optimize_summary(data["result"])
    else:
        console.print(f"run {data['run_id']} · {data['task']} · {data['status']}")
    table = Table("#", "iter", "phase", "split", "score", "n", "accepted", "best", "calls",
                  "note", title="trajectory")
    for step in data["trajectory"]:
        table.add_row(str(step["seq"]), str(step["iteration"]), step["phase"], step["split"],
                      f"{step['score']:.3f}", str(step["n"]), "yes" if step["accepted"] else "",
                      f"{step['best_so_far']:.3f}", str(step["rollouts"]), step["note"][:60])
    console.print(table)
    console.print(f"{len(data['candidates'])} candidates")


def bench_summary(report: dict[str, Any]) -> None:
    print(report["markdown"])
    print(f"table: {report['table']}\nplot: {report['plot']}")


def warnings(event: object) -> None:
    """An event callback: warnings the library emits (e.g. a damaged cache moved aside) go to
    stderr, whatever the output mode."""
    from honed.tracking.events import Message

    if isinstance(event, Message) and event.level == "warning":
        error(f"warning: {event.text}")


def init_summary(paths: list[str]) -> None:
    task = next(p for p in paths if p.endswith("task.yaml"))
    print("\n".join(f"wrote {p}" for p in paths))
    print(f"next:\n  honed eval {task}\n  honed optimize {task} --max-calls 200")
