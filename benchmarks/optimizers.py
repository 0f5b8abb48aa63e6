"""Each optimizer on the embedded model on a real classification task, same budget and splits.

    python benchmarks/optimizers.py [--dataset tweeteval-emotion] [--max-calls 1200]
        [--optimizers fewshot,bayes,auto,mutate] [--val 50] [--test 150] [--seed 0]

The final test evaluation of seed and best (2 x test calls) is part of --max-calls.

Reads ../shared/datasets (never copied into the repository), writes the sampled splits and a
task file to a temporary folder, runs ``honed.lifecycle.optimize.optimize`` for each optimizer
with a fresh $HONED_HOME (cold cache, so every optimizer pays for its own calls) and prints a
Markdown table of seed vs best held-out test score with 95% CIs, the paired difference, calls and
wall time.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import tempfile
import time
from pathlib import Path

# ../shared/datasets next to the checkout, or $HONED_DATASETS
DATASETS = Path(os.environ.get("HONED_DATASETS")
                or Path(__file__).resolve().parents[2] / "shared" / "datasets")
SEEDS = {
    "tweeteval-emotion": ("Classify the emotion of the tweet.", "text", "label"),
    "banking10": ("Classify the banking customer message.", "text", "label"),
    "bbh-sports-understanding": ("Is the sentence plausible?", "input", "target"),
}


def read(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


def sample(rows: list[dict], n: int, seed: int) -> list[dict]:
    rows = list(rows)
    random.Random(seed).shuffle(rows)
    return rows[:n]


def write_task(folder: Path, dataset: str, n_val: int, n_test: int, seed: int) -> Path:
    source = DATASETS / dataset
    train = read(source / "train.jsonl")
    val = read(source / "val.jsonl") if (source / "val.jsonl").exists() else train[-n_val:]
    if not (source / "val.jsonl").exists():
        train = train[:-n_val]
    test = read(source / "test.jsonl")
    system, field, label = SEEDS[dataset]
    labels = sorted({r[label] for r in train})
    for name, rows in (("train", train), ("val", sample(val, n_val, seed)),
                       ("test", sample(test, n_test, seed))):
        (folder / f"{name}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows),
                                              encoding="utf-8")
    task = folder / "task.yaml"
    task.write_text(
        f"name: {dataset}\nmodel:\n  spec: local\n  n_threads: {os.cpu_count() or 2}\n"
        f"prompt:\n  system: {json.dumps(system)}\n  user: '{{{field}}}'\n"
        f"output:\n  choices: {json.dumps(labels)}\n"
        "data:\n  train: train.jsonl\n  val: val.jsonl\n  test: test.jsonl\n"
        f"evals:\n  - type: exact_match\n    expected: '{{{label}}}'\n", encoding="utf-8")
    return task


def run_one(task_path: Path, optimizer: str, max_calls: int, seed: int, home: Path) -> dict:
    from honed.engine.budget import Limits
    from honed.lifecycle.optimize import OptimizeOptions, optimize
    from honed.optimizers.session import SearchOptions
    from honed.task.config import load_task

    os.environ["HONED_HOME"] = str(home)
    options = OptimizeOptions(optimizer=optimizer, search=SearchOptions(seed=seed,
                                                       limits=Limits(max_calls=max_calls)),
                              write_output=False)
    started = time.perf_counter()
    result = asyncio.run(optimize(load_task(task_path), options)).to_dict()
    result["bench_wall_s"] = time.perf_counter() - started
    return result


def fmt(stats: dict) -> str:
    lo, hi = stats["ci95"]
    return f"{stats['score']:.3f} [{lo:.3f}, {hi:.3f}]"


def table(rows: list[dict]) -> str:
    lines = ["| optimizer | seed test | best test | diff (paired) | calls | wall s |",
             "| --- | --- | --- | --- | --- | --- |"]
    for r in rows:
        d = r["test_diff"]
        lines.append(f"| {r['optimizer']} | {fmt(r['seed']['test'])} | {fmt(r['best']['test'])} "
                     f"| {d['diff']:+.3f} [{d['ci95'][0]:+.3f}, {d['ci95'][1]:+.3f}] "
                     f"| {r['calls']} | {r['bench_wall_s']:.0f} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--dataset", default="tweeteval-emotion", choices=sorted(SEEDS))
    parser.add_argument("--optimizers", default="fewshot,bayes,auto,mutate")
    parser.add_argument("--max-calls", type=int, default=1200)
    parser.add_argument("--val", type=int, default=50)
    parser.add_argument("--test", type=int, default=150)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path, help="also write the raw results here")
    args = parser.parse_args()
    os.environ.setdefault("HONED_FORBID_NETWORK", "1")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        task = write_task(folder, args.dataset, args.val, args.test, args.seed)
        for name in args.optimizers.split(","):
            rows.append(run_one(task, name, args.max_calls, args.seed, folder / f"home-{name}"))
            print(f"{name}: done in {rows[-1]['bench_wall_s']:.0f}s", flush=True)
    print(f"\n{args.dataset}, embedded SmolLM2-135M-Instruct, max {args.max_calls} calls, "
          f"val n={args.val}, test n={args.test}, seed {args.seed}; "
          f"{platform.machine()}, {os.cpu_count()} cores\n")
    print(table(rows))
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2, default=str), encoding="utf-8")


if __name__ == "__main__":
    main()
