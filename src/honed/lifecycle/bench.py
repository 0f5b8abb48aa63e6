"""``honed bench``: every optimizer on the same task, model, splits and budget, side by side.

Each (optimizer, seed) run gets its own state folder (cold cache), so wall times compare fairly.
Reported per optimizer: seed and best test score with CI, the paired difference vs the seed,
calls, tokens, wall time, and the best-so-far-vs-rollouts curve (sample efficiency); several
seeds give the mean and spread.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from honed.lifecycle.optimize import OptimizeOptions, open_store, optimize
from honed.task.task import Task
from honed.tracking.events import Callback, Message


@dataclass(frozen=True)
class BenchOptions:
    optimizers: Sequence[str]
    seeds: Sequence[int]
    base: OptimizeOptions
    out_dir: Path


def curve(home: Path, run_id: str) -> list[tuple[int, float]]:
    """Best val score so far against rollouts spent, from the run store's trajectory."""
    store = open_store(home)
    try:
        steps = [s for s in store.steps(run_id) if s["split"] == "val"]
    finally:
        store.close()
    points: list[tuple[int, float]] = []
    for step in steps:
        if not points or step["best_so_far"] != points[-1][1]:
            points.append((int(step["rollouts"]), float(step["best_so_far"])))
    return points


async def run_one(task: Task, name: str, seed: int, options: BenchOptions,
                  callbacks: Iterable[Callback]) -> dict[str, Any]:
    home = options.out_dir / "homes" / f"{name.replace(':', '-')}-s{seed}"
    search = options.base.search.model_copy(update={"seed": seed, "home": home})
    result = await optimize(task, options.base.model_copy(update={
        "optimizer": name, "search": search, "write_output": False, "publish": False}),
        callbacks=callbacks)
    data = result.to_dict()
    data["seed_value"] = seed
    data["curve"] = curve(home, result.run_id)
    return data


def aggregate(runs: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    rows = []
    for name in dict.fromkeys(r["optimizer"] for r in runs):
        mine = [r for r in runs if r["optimizer"] == name]
        best = [r["best"]["test"]["score"] for r in mine]
        diffs = [r["test_diff"]["diff"] for r in mine]
        first = mine[0]
        rows.append({
            "optimizer": name, "seeds": len(mine),
            "seed_test": first["seed"]["test"],
            "best_test_mean": statistics.fmean(best),
            "best_test_sd": statistics.stdev(best) if len(best) > 1 else 0.0,
            "best_test_first": first["best"]["test"],
            "diff_mean": statistics.fmean(diffs), "diff_first": first["test_diff"],
            "calls_mean": statistics.fmean(r["calls"] for r in mine),
            "tokens_mean": statistics.fmean(r["input_tokens"] + r["output_tokens"]
                                            for r in mine),
            "wall_s_mean": statistics.fmean(r["wall_s"] for r in mine),
            "test_errors": sum((r["best"]["test"] or {}).get("errors", 0) for r in mine),
        })
    return rows


def markdown(rows: Sequence[dict[str, Any]], header: str) -> str:
    lines = [header, "",
             "| optimizer | seeds | seed test [95% CI] | best test: mean ± sd | best test, "
             "first seed [95% CI] | diff vs seed, first seed [95% CI] | test errors | calls | "
             "tokens | wall s |", "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for r in rows:
        seed, first, diff = r["seed_test"], r["best_test_first"], r["diff_first"]
        lines.append(
            f"| {r['optimizer']} | {r['seeds']} | {seed['score']:.3f} [{seed['ci95'][0]:.3f}, "
            f"{seed['ci95'][1]:.3f}] | {r['best_test_mean']:.3f} ± {r['best_test_sd']:.3f} | "
            f"{first['score']:.3f} [{first['ci95'][0]:.3f}, {first['ci95'][1]:.3f}] | "
            f"{diff['diff']:+.3f} [{diff['ci95'][0]:+.3f}, {diff['ci95'][1]:+.3f}] | "
            f"{r['test_errors']} | {r['calls_mean']:.0f} | {r['tokens_mean']:.0f} | "
            f"{r['wall_s_mean']:.0f} |")
    return "\n".join(lines) + "\n"


def plot(runs: Sequence[dict[str, Any]], path: Path, title: str) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5), dpi=120)
    colors: dict[str, Any] = {}
    for run in runs:
        points = run["curve"]
        if not points:
            continue
        xs = [p[0] for p in points] + [run["rollouts"]]
        ys = [p[1] for p in points] + [points[-1][1]]
        name = run["optimizer"]
        line = ax.step(xs, ys, where="post", alpha=0.85, color=colors.get(name),
                       label=None if name in colors else name)
        colors.setdefault(name, line[0].get_color())
    ax.set_xlabel("rollouts (model calls, cached or not)")
    ax.set_ylabel("best val score so far")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


async def bench(task: Task, options: BenchOptions,
                callbacks: Iterable[Callback] = ()) -> dict[str, Any]:
    callbacks = list(callbacks)
    options.out_dir.mkdir(parents=True, exist_ok=True)
    runs = []
    for name in options.optimizers:
        for seed in options.seeds:
            for cb in callbacks:
                cb(Message(f"{name} seed {seed}"))
            runs.append(await run_one(task, name, seed, options, callbacks))
    rows = aggregate(runs)
    limit = options.base.search.limits.max_calls
    header = (f"{task.name} · model {options.base.search.model or task.model.spec} · "
              f"max {limit} calls · seeds {', '.join(map(str, options.seeds))}")
    table = markdown(rows, f"**{header}**")
    (options.out_dir / "bench.md").write_text(table, encoding="utf-8")
    png = plot(runs, options.out_dir / "bench.png", header)
    return {"rows": rows, "runs": runs, "markdown": table, "plot": str(png),
            "table": str(options.out_dir / "bench.md")}
