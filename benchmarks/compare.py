"""honed's optimizers against DSPy's on the embedded model: ``honed bench`` on real datasets.

    python benchmarks/compare.py [--datasets tweeteval-emotion,banking10] [--max-calls 700]
        [--seeds 0,1,2] [--optimizers auto,dspy:mipro,dspy:gepa,dspy:bootstrap-rs]
        [--val 40] [--test 150] [--out benchmarks/results]

For each dataset it samples val/test from ../shared/datasets (never copied into the
repository) into a temporary folder, writes a task on the embedded model, and runs, for each
optimizer in its own process,

    honed bench task.yaml --optimizers NAME --max-calls N --seeds ... --json

so every optimizer gets the same model, splits and call budget (DSPy's calls are counted by
honed's engine through its local model server; the final test evaluation of seed and best is
part of --max-calls). It keeps each dataset's table (``bench.md``), plot (``bench.png``) and raw
report (``bench.json``) under --out and prints the tables with the machine they ran on, then a
per-seed summary. ``--summarize`` writes the tables and plots again from the kept
``bench.json`` files and prints the summary, without running anything; ``--optimizers NAME
--merge`` re-runs one optimizer and keeps the others' kept results (same settings only).
``--summarize --pool DIR`` (repeatable) also pools the runs kept under other ``--out`` folders
(more seeds, same budget and splits) and compares ``auto`` with each other optimizer, paired by
seed: the mean difference in best test score with a t interval over seeds.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
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


def run_bench(task: Path, optimizer: str, args: argparse.Namespace, out: Path) -> dict:
    command = [*HONED, "bench", str(task), "--optimizers", optimizer,
               "--max-calls", str(args.max_calls), "--seeds", args.seeds,
               "--out", str(out), "--json"]
    done = subprocess.run(command, capture_output=True, text=True, check=False,
                          env={**os.environ, "HONED_HOME": str(out / "home")})
    if done.returncode != 0:
        sys.exit(f"honed bench failed ({done.returncode}):\n{done.stderr[-4000:]}")
    return json.loads(done.stdout)


def settings(args: argparse.Namespace) -> dict:
    return {"max_calls": args.max_calls, "seeds": args.seeds, "val": args.val,
            "test": args.test}


def kept_runs(dest: Path, args: argparse.Namespace, fresh: set[str]) -> list[dict]:
    """With --merge, the kept runs of the optimizers not re-run now (same settings only)."""
    path = dest / "bench.json"
    if not args.merge or not path.exists():
        return []
    data = json.loads(path.read_text(encoding="utf-8"))
    if data.get("settings", settings(args)) != settings(args):
        sys.exit(f"{path} was run with other settings: {data['settings']}; drop --merge")
    return [r for r in data["runs"] if r["optimizer"] not in fresh]


def keep(dataset: str, runs: list[dict], args: argparse.Namespace, dest: Path) -> None:
    """Table, plot and raw runs of one dataset, as ``honed bench`` writes them."""
    from honed.lifecycle.bench import aggregate, markdown, plot

    dest.mkdir(parents=True, exist_ok=True)
    order = list(dict.fromkeys(DEFAULT_OPTIMIZERS.split(",") + [r["optimizer"] for r in runs]))
    runs = sorted(runs, key=lambda r: (order.index(r["optimizer"]), r["seed_value"]))
    header = (f"{dataset} · model local · max {args.max_calls} calls · "
              f"seeds {', '.join(args.seeds.split(','))}")
    rows = aggregate(runs)
    (dest / "bench.md").write_text(markdown(rows, f"**{header}**"), encoding="utf-8")
    plot(runs, dest / "bench.png", header)
    slim = {"settings": settings(args), "rows": rows,
            "runs": [{k: v for k, v in r.items() if k != "pareto"} for r in runs]}
    (dest / "bench.json").write_text(json.dumps(slim, indent=1, default=str), encoding="utf-8")


def rerender(dataset: str, args: argparse.Namespace) -> None:
    """Table and plot again from the kept runs (with the settings they were run with)."""
    dest = args.out / f"compare-{dataset}"
    if (dest / "bench.json").exists():
        data = json.loads((dest / "bench.json").read_text(encoding="utf-8"))
        kept = argparse.Namespace(**{**vars(args), **data.get("settings", {})})
        keep(dataset, data["runs"], kept, dest)


def compare(dataset: str, args: argparse.Namespace) -> None:
    names = args.optimizers.split(",")
    dest = args.out / f"compare-{dataset}"
    runs = kept_runs(dest, args, set(names))
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        task = write_task(folder, dataset, args.val, args.test, 0)
        for name in names:  # each in its own process, as a user would run it
            runs += run_bench(task, name, args, folder / name.replace(":", "-"))["runs"]
    keep(dataset, runs, args, dest)
    print(f"\n{dataset}: val n={args.val}, test n={args.test}, embedded SmolLM2-135M-Instruct; "
          f"{machine()}; {time.perf_counter() - started:.0f} s\n", flush=True)
    print((dest / "bench.md").read_text(encoding="utf-8"), flush=True)


def summary(out: Path, datasets: list[str]) -> str:
    """Per optimizer and dataset: best test per seed, the mean paired diff vs the seed, and how
    many seeds' diffs were significant either way."""
    lines = ["| dataset | optimizer | best test per seed | mean diff vs seed | significant +/- "
             "| calls (mean) |", "| --- | --- | --- | --- | --- | --- |"]
    for dataset in datasets:
        runs = pooled_runs([out], dataset)
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


def pooled_runs(dirs: list[Path], dataset: str) -> list[dict]:
    """The kept runs of one dataset under several --out folders (same budget and splits)."""
    runs: list[dict] = []
    first: dict | None = None
    for folder in dirs:
        path = folder / f"compare-{dataset}" / "bench.json"
        if not path.exists():
            continue
        data = json.loads(path.read_text(encoding="utf-8"))
        same = {k: v for k, v in data["settings"].items() if k != "seeds"}
        if first is not None and same != first:
            sys.exit(f"{path} was run with other settings ({same}, not {first}): not pooled")
        first = same
        runs += data["runs"]
    return runs


def best_by_seed(runs: list[dict], optimizer: str) -> dict[int, float]:
    """One optimizer's best test score per seed."""
    return {r["seed_value"]: r["best"]["test"]["score"] for r in runs
            if r["optimizer"] == optimizer}


def versus(runs: list[dict], name: str, other: str) -> tuple[str, str]:
    """``name`` minus ``other`` in best test score, paired by seed: the mean with a 95% t
    interval over seeds, and on how many seeds ``name`` is ahead / level / behind."""
    from scipy import stats

    mine, theirs = best_by_seed(runs, name), best_by_seed(runs, other)
    diffs = [mine[s] - theirs[s] for s in sorted(mine.keys() & theirs.keys())]
    if len(diffs) < 2:
        return "", ""
    mean = statistics.mean(diffs)
    low, high = stats.t.interval(0.95, len(diffs) - 1, loc=mean, scale=stats.sem(diffs)) \
        if len(set(diffs)) > 1 else (mean, mean)
    counts = (sum(d > 0 for d in diffs), sum(d == 0 for d in diffs), sum(d < 0 for d in diffs))
    return f"{mean:+.3f} [{low:+.3f}, {high:+.3f}]", " / ".join(map(str, counts))


def pooled_summary(dirs: list[Path], datasets: list[str], name: str = "auto") -> str:
    """Per optimizer and dataset over every pooled seed: best test per seed, mean ± sd, and
    ``name`` against it, paired by seed."""
    lines = [f"| dataset | optimizer | seeds | best test per seed | mean ± sd | {name} − it, "
             f"paired by seed [95% CI] | {name} ahead / level / behind |",
             "| --- | --- | --- | --- | --- | --- | --- |"]
    for dataset in datasets:
        runs = pooled_runs(dirs, dataset)
        for opt in dict.fromkeys(r["optimizer"] for r in runs):
            scores = best_by_seed(runs, opt)
            values = [scores[s] for s in sorted(scores)]
            mean = statistics.mean(values)
            sd = statistics.stdev(values) if len(values) > 1 else 0.0
            diff, counts = versus(runs, name, opt) if opt != name else ("", "")
            per_seed = " / ".join(f"{v:.3f}" for v in values)
            lines.append(f"| {dataset} | {opt} | {','.join(map(str, sorted(scores)))} | "
                         f"{per_seed} | {mean:.3f} ± {sd:.3f} | {diff} | {counts} |")
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
    parser.add_argument("--merge", action="store_true",
                        help="keep the results of optimizers not in --optimizers from --out")
    parser.add_argument("--summarize", action="store_true",
                        help="only re-render tables/plots and print the summary of kept results")
    parser.add_argument("--pool", type=Path, action="append", default=[],
                        help="with --summarize, also pool the runs kept under this --out folder")
    args = parser.parse_args()
    datasets = args.datasets.split(",")
    if args.summarize:
        for dataset in datasets:
            rerender(dataset, args)
        print(summary(args.out, datasets))
        if args.pool:
            print("\n" + pooled_summary([args.out, *args.pool], datasets))
        return
    os.environ.setdefault("HONED_FORBID_NETWORK", "1")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    for dataset in datasets:
        if dataset not in SEEDS:
            sys.exit(f"unknown dataset {dataset!r}: one of {', '.join(sorted(SEEDS))}")
        compare(dataset, args)
    print(summary(args.out, datasets))


if __name__ == "__main__":
    main()
