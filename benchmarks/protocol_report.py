"""The protocol's summary: per task × optimizer and pooled, with paired statistics.

For each task and optimizer: the mean best-prompt test score over seeds (each seed its own fresh
split), a 95% bootstrap CI (examples resampled within each seed), the per-seed scores,
task-model and proposer calls, errors and wall time. ``auto`` against each peer: the mean
paired difference on the same test examples, its 95% paired bootstrap CI (per task, and pooled
over tasks with equal weight), and an exact sign-flip permutation test over the per-seed
differences. A win or a loss is claimed only where the CI excludes 0; otherwise it is a tie.
Also: the calls each optimizer needs to reach the best peer's final score, and the best-so-far
test score against calls (SVG).
"""

from __future__ import annotations

import json
import statistics
from collections import defaultdict
from pathlib import Path
from typing import Any

from protocol_data import RESULTS, VERSION, settings_hash

ROOT = Path(__file__).resolve().parents[1]
REFERENCE = "auto"
BOOT_SEED = 0


def load(phase: str) -> dict[tuple[str, str, int], dict[str, Any]]:
    cells = {}
    for path in sorted((RESULTS / phase / "cells").glob("*.json")):
        cell = json.loads(path.read_text())
        cells[(cell["task"], cell["optimizer"], cell["seed"])] = cell
    return cells


def _groups(cells: dict[tuple[str, str, int], dict[str, Any]], task: str, a: str,
            b: str) -> list[tuple[list[float], list[float]]]:
    """Per seed where both ran: the paired per-example best-test values of a and b."""
    out = []
    seeds = sorted({s for t, o, s in cells if t == task and o == a})
    for seed in seeds:
        ca, cb = cells.get((task, a, seed)), cells.get((task, b, seed))
        if ca is None or cb is None:
            continue
        ids = sorted(set(ca["per_example"]["best"]) & set(cb["per_example"]["best"]))
        out.append(([ca["per_example"]["best"][i] for i in ids],
                    [cb["per_example"]["best"][i] for i in ids]))
    return out


def task_row(cells: dict[tuple[str, str, int], dict[str, Any]], task: str,
             variant: str) -> dict[str, Any]:
    from honed.stats import pooled_mean_ci

    mine = [cells[k] for k in sorted(cells) if k[0] == task and k[1] == variant]
    scores = [c["best_test"]["score"] for c in mine]
    values = [list(c["per_example"]["best"].values()) for c in mine]
    return {
        "task": task, "optimizer": variant, "seeds": [c["seed"] for c in mine],
        "per_seed": scores, "mean": statistics.fmean(scores),
        "ci95": list(pooled_mean_ci(values, seed=BOOT_SEED)),
        "seed_prompt_mean": statistics.fmean(c["seed_test"]["score"] for c in mine),
        "task_model_calls": statistics.fmean(c["task_model_calls"] for c in mine),
        "proposer_calls": statistics.fmean(c["proposer_calls"] for c in mine),
        "errors": sum(c["errors"] for c in mine),
        "failed_calls": sum(c["failed_calls"] for c in mine),
        "wall_s": statistics.fmean(c["wall_s"] for c in mine),
        "n_test": mine[0]["best_test"]["n"],
    }


def comparison(groups: list[tuple[list[float], list[float]]]) -> dict[str, Any]:
    """auto − peer over the seeds' paired examples: mean, CI, verdict, exact test."""
    from honed.stats import pooled_paired_ci, sign_flip_test

    if not groups:
        return {"n_seeds": 0}
    diff, ci = pooled_paired_ci([(b, a) for a, b in groups], seed=BOOT_SEED)  # a − b
    per_seed = [statistics.fmean(a) - statistics.fmean(b) for a, b in groups]
    exact = sign_flip_test(per_seed)
    verdict = "win" if ci[0] > 0 else "loss" if ci[1] < 0 else "tie"
    return {"n_seeds": len(groups), "diff": diff, "ci95": list(ci), "verdict": verdict,
            "per_seed": per_seed, "sign_flip_p": exact.p_value}


def calls_to_reach(cells: dict[tuple[str, str, int], dict[str, Any]], task: str,
                   variant: str, target: float) -> dict[str, Any]:
    """Per seed, the first rollout count at which the best-so-far test score reaches
    ``target`` (None: never)."""
    reached = []
    for key in sorted(k for k in cells if k[0] == task and k[1] == variant):
        hit = next((r for r, score in cells[key]["curve"] if score >= target - 1e-9), None)
        reached.append(hit)
    done = [r for r in reached if r is not None]
    return {"per_seed": reached, "reached": len(done), "of": len(reached),
            "median": statistics.median(done) if done else None}


def write_summary(phase: str) -> str:
    cells = load(phase)
    tasks = sorted({k[0] for k in cells})
    variants = sorted({k[1] for k in cells}, key=lambda v: (v != REFERENCE, v))
    rows = [task_row(cells, t, v) for t in tasks for v in variants
            if any(k[0] == t and k[1] == v for k in cells)]
    comparisons = _comparisons(cells, tasks, variants)
    reach = _reach(cells, tasks, variants, rows)
    summary = {"phase": phase, "settings_hash": settings_hash(),
               "cells": len(cells), "rows": rows, "comparisons": comparisons,
               "calls_to_reach_best_peer": reach,
               "machine": next(iter(cells.values()))["machine"] if cells else None,
               "commits": sorted({c["commit"] for c in cells.values()})}
    out = RESULTS / phase
    out.mkdir(parents=True, exist_ok=True)
    (out / "summary.json").write_text(json.dumps(summary, indent=1), encoding="utf-8")
    from protocol_plot import plot_curves

    plot_curves(cells, tasks, variants, out / "curves.svg")
    return markdown(summary)


def _comparisons(cells: dict[tuple[str, str, int], dict[str, Any]], tasks: list[str],
                 variants: list[str]) -> list[dict[str, Any]]:
    from honed.stats import pooled_paired_ci

    out = []
    for peer in (v for v in variants if v != REFERENCE):
        per_task = {t: _groups(cells, t, REFERENCE, peer) for t in tasks}
        row: dict[str, Any] = {"peer": peer, "tasks": {t: comparison(g)
                                                       for t, g in per_task.items()}}
        flat = [(t, g) for t, gs in per_task.items() for g in gs]
        if flat:
            weights = _task_weights(flat)
            diff, ci = pooled_paired_ci([(b, a) for _, (a, b) in flat], seed=BOOT_SEED,
                                        weights=weights)
            row["pooled"] = {"diff": diff, "ci95": list(ci),
                             "verdict": "win" if ci[0] > 0 else "loss" if ci[1] < 0 else "tie"}
        out.append(row)
    return out


def _task_weights(flat: list[tuple[str, Any]]) -> list[float]:
    """Each task weighs the same, whatever its number of seeds."""
    per_task: dict[str, int] = defaultdict(int)
    for task, _ in flat:
        per_task[task] += 1
    return [1.0 / per_task[task] for task, _ in flat]


def _reach(cells: dict[tuple[str, str, int], dict[str, Any]], tasks: list[str],
           variants: list[str], rows: list[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for task in tasks:
        peers = [r for r in rows if r["task"] == task and r["optimizer"] != REFERENCE]
        if not peers:
            continue
        best = max(peers, key=lambda r: r["mean"])
        spent = statistics.fmean(c["curve"][-1][0] for k, c in cells.items()
                                 if k[0] == task and k[1] == best["optimizer"])
        found = {v: calls_to_reach(cells, task, v, best["mean"]) for v in variants
                 if any(k[0] == task and k[1] == v for k in cells)}
        for row in found.values():
            row["share_of_best_peer_calls"] = (None if row["median"] is None
                                               else row["median"] / spent)
        out[task] = {"best_peer": best["optimizer"], "target": best["mean"],
                     "best_peer_calls": spent, "optimizers": found}
    return out


def markdown(summary: dict[str, Any]) -> str:
    lines = [f"Protocol v{VERSION}, {summary['phase']} phase: {summary['cells']} cells, settings "
             f"{summary['settings_hash']}; {summary['machine']}", "",
             "| task | optimizer | best test, mean [95% CI] | per seed | seed prompt | "
             "task calls | proposer calls | errors | wall s |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for r in summary["rows"]:
        lo, hi = r["ci95"]
        seeds = " ".join(f"{s:.2f}" for s in r["per_seed"])
        lines.append(f"| {r['task']} | {r['optimizer']} | {r['mean']:.3f} [{lo:.3f}, "
                     f"{hi:.3f}] | {seeds} | {r['seed_prompt_mean']:.3f} | "
                     f"{r['task_model_calls']:.0f} | {r['proposer_calls']:.0f} | "
                     f"{r['errors']} | {r['wall_s']:.0f} |")
    lines += ["", "| auto − peer | task | diff [95% paired CI] | verdict | sign-flip p |",
              "| --- | --- | --- | --- | --- |"]
    for c in summary["comparisons"]:
        for task, t in c["tasks"].items():
            if t.get("n_seeds"):
                lines.append(f"| {c['peer']} | {task} | {t['diff']:+.3f} [{t['ci95'][0]:+.3f}"
                             f", {t['ci95'][1]:+.3f}] | {t['verdict']} | "
                             f"{t['sign_flip_p']:.3g} |")
        if "pooled" in c:
            p = c["pooled"]
            lines.append(f"| {c['peer']} | **pooled** | {p['diff']:+.3f} [{p['ci95'][0]:+.3f}, "
                         f"{p['ci95'][1]:+.3f}] | {p['verdict']} | |")
    lines += ["", "| task | best peer (its mean, calls) | calls to reach it: auto | "
              "share of the peer's calls | peers that reach it |",
              "| --- | --- | --- | --- | --- |"]
    for task, r in summary["calls_to_reach_best_peer"].items():
        mine = r["optimizers"].get("auto", {})
        share = mine.get("share_of_best_peer_calls")
        others = [f"{v} {o['reached']}/{o['of']}" for v, o in r["optimizers"].items()
                  if v != "auto"]
        lines.append(f"| {task} | {r['best_peer']} ({r['target']:.3f}, "
                     f"{r['best_peer_calls']:.0f}) | {mine.get('median')} "
                     f"({mine.get('reached')}/{mine.get('of')} seeds) | "
                     f"{'-' if share is None else f'{share:.0%}'} | {', '.join(others)} |")
    return "\n".join(lines)
