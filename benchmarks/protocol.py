"""The benchmark protocol (v3): honed's default optimizer against its peers, at equal budget,
on fresh splits.

    python benchmarks/protocol.py run --phase dev [--tasks ...] [--optimizers ...]
        [--seeds 0,1,2,3,4]
    python benchmarks/protocol.py freeze        # record the settings' hash and the commit
    python benchmarks/protocol.py run --phase final
    python benchmarks/protocol.py summarize [--phase final]

Every cell (phase, dataset, optimizer, seed) runs in its own process with a cold state folder:
the seed's fresh split of the phase's data part (see ``protocol_data``), the embedded model, the
same ``max_calls`` for every optimizer (the final test of seed and best included; DSPy's and
GEPA's calls go through honed's engine, so the same limit binds them), and its result is kept
as ``results/protocol-v<version>/<phase>/cells/*.json``. ``run`` skips cells already kept, so an
interrupted run continues. Final cells are computed once: ``run --phase final`` refuses to run
unless the settings and the optimizer code match the frozen hash, and never overwrites a cell.

A cell records the best and the seed prompt's per-example test results (for paired statistics),
task-model calls, proposer calls, errors, wall time, and the best-so-far test score at each
improvement of the best-so-far val score (at most ``CURVE_POINTS`` candidates evaluated on
test after the run, outside the budget): the search curve.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from protocol_data import (
    FAKE,
    OPTIMIZERS,
    RESULTS,
    SETTINGS,
    TASKS,
    commit,
    settings_hash,
    split,
    write_task,
)

CURVE_POINTS = SETTINGS["curve_points"]
DEV_BUDGETS: dict[str, int] = SETTINGS["dev_budgets"]  # dev data under another budget
PHASES = ("dev", "final", *DEV_BUDGETS)


def data_part(phase: str) -> str:
    return "final" if phase == "final" else "dev"


def cell_path(phase: str, dataset: str, variant: str, seed: int) -> Path:
    return RESULTS / phase / "cells" / f"{dataset}__{variant}__s{seed}.json"


def run_cell(phase: str, dataset: str, variant: str, seed: int) -> dict[str, Any]:
    from honed.engine.budget import Limits
    from honed.lifecycle.optimize import OptimizeOptions, optimize
    from honed.optimizers.session import SearchOptions
    from honed.task.config import load_task

    name, params = OPTIMIZERS[variant]
    with tempfile.TemporaryDirectory(prefix="protocol-") as tmp:
        folder, home = Path(tmp), Path(tmp) / "home"
        task = load_task(write_task(folder, dataset, split(dataset, data_part(phase), seed)))
        budget = DEV_BUDGETS.get(phase, SETTINGS["max_calls"])
        search = SearchOptions(seed=seed, limits=Limits(max_calls=budget),
                               home=home)
        options = OptimizeOptions(optimizer=name, params=params, search=search,
                                  write_output=False)
        model = scripted_model() if dataset in FAKE else None
        started = time.perf_counter()
        result = asyncio.run(optimize(task, options, model=model))
        wall = time.perf_counter() - started
        curve = asyncio.run(test_curve(task, home, result, model))
    data = result.to_dict()
    return {
        "phase": phase, "task": dataset, "optimizer": variant, "honed_optimizer": name,
        "params": params, "seed": seed, "settings_hash": settings_hash(), "commit": commit(),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, "
                   f"Python {platform.python_version()}",
        "splits": data["splits"], "best_test": data["best"]["test"],
        "seed_test": data["seed"]["test"], "best_val": data["best"]["val"],
        "per_example": {"best": result.best_test.per_example,
                        "seed": result.seed_test.per_example},
        "task_model_calls": data["calls"] - data.get("proposer_calls", 0),
        "proposer_calls": data.get("proposer_calls", 0), "rollouts": data["rollouts"],
        "stages": data.get("stages", {}), "failed_calls": data["failed_calls"],
        "errors": (data["best"]["test"] or {}).get("errors", 0), "stopped": data["stopped"],
        "wall_s": wall, "curve": curve, "best_prompt": data["best"]["prompt"],
    }


def scripted_model() -> Any:
    from protocol_landscape import answer

    from honed.providers.fake import FakeModel

    return FakeModel(answer)


async def test_curve(task: Any, home: Path, result: Any, model: Any) -> list[list[float]]:
    """[rollouts, test score] at each improvement of the best-so-far val score (evaluated on
    test after the run, with the run's cache; at most CURVE_POINTS of them, evenly picked)."""
    from honed.engine.session import EngineOptions, open_engine
    from honed.lifecycle.optimize import open_store
    from honed.task.config import load_splits

    store = open_store(home)
    try:
        steps = [s for s in store.steps(result.run_id) if s["split"] == "val"]
        bests, top = [], float("-inf")
        for step in steps:
            if step["score"] > top:
                top = step["score"]
                bests.append((int(step["rollouts"]), step["candidate_id"]))
        if len(bests) > CURVE_POINTS:
            picks = [round(i * (len(bests) - 1) / (CURVE_POINTS - 1))
                     for i in range(CURVE_POINTS)]
            bests = [bests[i] for i in dict.fromkeys(picks)]
        candidates = {cid: store.candidate(result.run_id, cid) for _, cid in bests}
    finally:
        store.close()
    curve = []
    splits = load_splits(task)
    async with open_engine(task, splits, EngineOptions(home=home), model=model) as engine:
        for rollouts, cid in bests:
            report = await engine.evaluate(candidates[cid], splits.test, label="curve")
            curve.append([rollouts, report.summary.score])
    curve.append([result.stats["rollouts"], result.best_test.score])
    return curve


def cells(phase: str, tasks: list[str], variants: list[str],
          seeds: list[int]) -> list[tuple[str, str, int]]:
    return [(t, v, s) for s in seeds for t in tasks for v in variants]


def frozen() -> dict[str, Any] | None:
    path = RESULTS / "frozen.json"
    return json.loads(path.read_text()) if path.exists() else None


def check_final() -> None:
    record = frozen()
    if record is None:
        sys.exit("final: freeze the settings first (protocol.py freeze, after dev)")
    if record["settings_hash"] != settings_hash():
        sys.exit(f"final: the settings or optimizer code changed since the freeze "
                 f"({record['settings_hash']} frozen, {settings_hash()} now)")


def run(args: argparse.Namespace) -> None:
    if args.phase == "final":
        check_final()
    seeds = args.seeds or SETTINGS["final_seeds" if args.phase == "final" else "seeds"]
    todo = [c for c in cells(args.phase, args.tasks, args.optimizers, seeds)
            if not cell_path(args.phase, *c).exists()]
    print(f"{len(todo)} cells to run", flush=True)
    for dataset, variant, seed in todo:
        started = time.perf_counter()
        proc = subprocess.run([sys.executable, __file__, "cell", "--phase", args.phase,
                               "--task", dataset, "--optimizer", variant, "--seed", str(seed)],
                              capture_output=True, text=True, check=False)
        took = time.perf_counter() - started
        status = "ok" if proc.returncode == 0 else f"FAILED ({proc.returncode})"
        print(f"{dataset} {variant} s{seed}: {status} in {took:.0f}s", flush=True)
        if proc.returncode != 0:
            print(proc.stderr[-2000:], flush=True)


def cell(args: argparse.Namespace) -> None:
    path = cell_path(args.phase, args.task, args.optimizer, args.seed)
    if path.exists() and args.phase == "final":
        sys.exit(f"{path} exists: final cells are computed once")
    data = run_cell(args.phase, args.task, args.optimizer, args.seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=1, sort_keys=True), encoding="utf-8")


def freeze(_: argparse.Namespace) -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    record = {"settings_hash": settings_hash(), "commit": commit(),
              "frozen_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
              "settings": SETTINGS}
    (RESULTS / "frozen.json").write_text(json.dumps(record, indent=1, default=str))
    print(f"frozen {record['settings_hash']} at {record['commit'][:12]}")


def summarize(args: argparse.Namespace) -> None:
    from protocol_report import write_summary

    print(write_summary(args.phase))


def main() -> None:
    os.environ.setdefault("HONED_FORBID_NETWORK", "1")
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    lists = {"--tasks": list(TASKS), "--optimizers": list(OPTIMIZERS)}
    p_run = sub.add_parser("run", help="run every missing cell")
    p_run.add_argument("--phase", choices=PHASES, required=True)
    for flag, default in lists.items():
        p_run.add_argument(flag, type=lambda s: s.split(","), default=default)
    p_run.add_argument("--seeds", type=lambda s: [int(x) for x in s.split(",")],
                       default=None, help="default: the settings' seeds (final_seeds for the "
                                          "final phase)")
    p_cell = sub.add_parser("cell", help="run one cell (what run calls)")
    p_cell.add_argument("--phase", choices=PHASES, required=True)
    p_cell.add_argument("--task", choices=list(TASKS), required=True)
    p_cell.add_argument("--optimizer", choices=list(OPTIMIZERS), required=True)
    p_cell.add_argument("--seed", type=int, required=True)
    sub.add_parser("freeze", help="record the settings hash and the commit")
    p_sum = sub.add_parser("summarize", help="summary.json, the tables and the curve plot")
    p_sum.add_argument("--phase", choices=PHASES, default="final")
    args = parser.parse_args()
    {"run": run, "cell": cell, "freeze": freeze, "summarize": summarize}[args.command](args)


if __name__ == "__main__":
    main()
