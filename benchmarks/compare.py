"""honed's optimizers against DSPy's on the embedded model: ``honed bench`` on real datasets.

    python benchmarks/compare.py [--datasets tweeteval-emotion,banking10] [--max-calls 700]
        [--seeds 0,1,2] [--optimizers auto,dspy:mipro,dspy:gepa,dspy:bootstrap-rs]
        [--val 40] [--test 150] [--out benchmarks/results]

For each dataset it samples val/test from ../shared/datasets (never copied into the
repository) into a temporary folder, writes a task on the embedded model, and runs

    honed bench task.yaml --optimizers ... --max-calls N --seeds ... --json

so every optimizer gets the same model, splits and call budget (DSPy's calls are counted by
honed's engine through its local model server; the final test evaluation of seed and best is
part of --max-calls). It keeps each dataset's table (``bench.md``), plot (``bench.png``) and raw
report (``bench.json``) under --out and prints the tables with the machine they ran on, then a
per-seed summary. ``--summarize`` prints that summary again from the kept ``bench.json`` files
without running anything.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from optimizers import SEEDS, write_task

HONED = [sys.executable, "-m", "honed"]
DEFAULT_OPTIMIZERS = "auto,dspy:mipro,dspy:gepa,dspy:bootstrap-rs"


def machine() -> str:
    return f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"


def run_bench(task: Path, args: argparse.Namespace, out: Path) -> dict:
    command = [*HONED, "bench", str(task), "--optimizers", args.optimizers,
               "--max-calls", str(args.max_calls), "--seeds", args.seeds,
               "--out", str(out), "--json"]
    done = subprocess.run(command, capture_output=True, text=True, check=False,
                          env={**os.environ, "HONED_HOME": str(out / "home")})
    if done.returncode != 0:
        sys.exit(f"honed bench failed ({done.returncode}):\n{done.stderr[-4000:]}")
    return json.loads(done.stdout)


def keep(report: dict, work: Path, dest: Path) -> None:
    dest.mkdir(parents=True, exist_ok=True)
    for name in ("bench.md", "bench.png"):
        shutil.copy(work / name, dest / name)
    slim = {"rows": report["rows"],
            "runs": [{k: v for k, v in r.items() if k != "pareto"} for r in report["runs"]]}
    (dest / "bench.json").write_text(json.dumps(slim, indent=1, default=str), encoding="utf-8")


def summary(out: Path, datasets: list[str]) -> str:
    """Per optimizer and dataset: best test per seed, the mean paired diff vs the seed, and how
    many seeds' diffs were significant either way."""
    lines = ["| dataset | optimizer | best test per seed | mean diff vs seed | significant +/- "
             "| calls (mean) |", "| --- | --- | --- | --- | --- | --- |"]
    for dataset in datasets:
        path = out / f"compare-{dataset}" / "bench.json"
        if not path.exists():
            continue
        runs = json.loads(path.read_text(encoding="utf-8"))["runs"]
        for name in dict.fromkeys(r["optimizer"] for r in runs):
            mine = [r for r in runs if r["optimizer"] == name]
            tests = " / ".join(f"{r['best']['test']['score']:.3f}" for r in mine)
            diffs = [r["test_diff"] for r in mine]
            up = sum(d["ci95"][0] > 0 for d in diffs)
            down = sum(d["ci95"][1] < 0 for d in diffs)
            mean = sum(d["diff"] for d in diffs) / len(diffs)
            calls = sum(r["calls"] for r in mine) / len(mine)
            lines.append(f"| {dataset} | {name} | {tests} | {mean:+.3f} | {up} / {down} "
                         f"| {calls:.0f} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--datasets", default="tweeteval-emotion,banking10")
    parser.add_argument("--optimizers", default=DEFAULT_OPTIMIZERS)
    parser.add_argument("--max-calls", type=int, default=700)
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--val", type=int, default=40)
    parser.add_argument("--test", type=int, default=150)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results"))
    parser.add_argument("--summarize", action="store_true",
                        help="only print the per-seed summary of the kept results")
    args = parser.parse_args()
    datasets = args.datasets.split(",")
    if args.summarize:
        print(summary(args.out, datasets))
        return
    os.environ.setdefault("HONED_FORBID_NETWORK", "1")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    for dataset in datasets:
        if dataset not in SEEDS:
            sys.exit(f"unknown dataset {dataset!r}: one of {', '.join(sorted(SEEDS))}")
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp)
            task = write_task(folder, dataset, args.val, args.test, 0)
            started = time.perf_counter()
            report = run_bench(task, args, folder / "bench")
            keep(report, folder / "bench", args.out / f"compare-{dataset}")
        print(f"\n{dataset}: val n={args.val}, test n={args.test}, embedded SmolLM2-135M-Instruct; "
              f"{machine()}; {time.perf_counter() - started:.0f} s\n", flush=True)
        print((args.out / f"compare-{dataset}" / "bench.md").read_text(encoding="utf-8"),
              flush=True)
    print(summary(args.out, datasets))


if __name__ == "__main__":
    main()
