"""How much the choice of demos matters on the embedded model, and how well val sees it.

    python benchmarks/demo_landscape.py [--dataset banking10] [--sets 16] [--sizes 3,6]
        [--val 40] [--test 150] [--train 0] [--seed 0]

Writes the same task and splits as ``benchmarks/compare.py`` (seed prompt, val/test sampled with
``--seed``), draws ``--sets`` label-stratified demo sets from train (sizes cycling through
``--sizes``, labels in a random order), scores the seed prompt with each set on val and on test,
and prints per size the mean, min and max test score, the Pearson correlation of val and test
scores over all sets, and the test score of the set a search that picks by val alone would
keep. With ``--train N`` it also scores each set on N train examples (one fixed sample, less
the set's own demos) and prints their correlation with test: how well a larger sample of train
ranks the sets next to val. It shows the problem every demo search has on a small val split:
the spread between demo sets is large, and val ranks them only roughly.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import random
import statistics
import tempfile
from pathlib import Path

from optimizers import SEEDS, write_task

Row = tuple[int, float, float, float | None]  # demos, val score, test score, train score


def parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dataset", default="banking10", choices=sorted(SEEDS))
    parser.add_argument("--sets", type=int, default=16)
    parser.add_argument("--sizes", default="3,6")
    parser.add_argument("--val", type=int, default=40)
    parser.add_argument("--test", type=int, default=150)
    parser.add_argument("--train", type=int, default=0)
    parser.add_argument("--seed", type=int, default=0)
    return parser.parse_args()


async def landscape(task_path: Path, home: Path, args: argparse.Namespace,
                    ) -> tuple[float, list[Row]]:
    from honed.engine.session import EngineOptions, open_engine
    from honed.optimizers.fewshot import stratified
    from honed.optimizers.mutations import task_labels
    from honed.task.config import load_splits, load_task
    from honed.types import Candidate

    task = load_task(task_path)
    splits = load_splits(task)
    labels = task_labels(task, splits.train)
    sizes = [int(s) for s in args.sizes.split(",")]
    rng = random.Random(args.seed)
    sample = rng.sample(list(splits.train), min(args.train, len(splits.train)))
    rows: list[Row] = []
    async with open_engine(task, splits, EngineOptions(home=home)) as engine:
        seed = task.seed_candidate()
        seed_test = (await engine.evaluate(seed, splits.test, label="seed")).summary.score
        for index in range(args.sets):
            order = rng.sample(labels, len(labels))
            ids = stratified(task, splits.train, sizes[index % len(sizes)], rng, order)
            candidate = Candidate(dict(seed.components), ids)
            val = (await engine.evaluate(candidate, splits.val, label="val")).summary.score
            test = (await engine.evaluate(candidate, splits.test, label="test")).summary.score
            fresh = [ex for ex in sample if ex.id not in ids]
            train = (await engine.evaluate(candidate, fresh, label="train")).summary.score \
                if fresh else None
            rows.append((len(ids), val, test, train))
            print(f"set {index + 1}/{args.sets}: {len(ids)} demos, val {val:.3f}, "
                  f"test {test:.3f}" + (f", train {train:.3f}" if fresh else ""), flush=True)
    return seed_test, rows


def report(args: argparse.Namespace, seed_test: float, rows: list[Row]) -> None:
    print(f"\n{args.dataset}: {len(rows)} label-stratified demo sets on the seed prompt, "
          f"val n={args.val}, test n={args.test}, split seed {args.seed}; embedded "
          f"SmolLM2-135M-Instruct; {platform.machine()}, {os.cpu_count()} cores\n")
    print("| demos | sets | test mean | test min | test max |\n| --- | --- | --- | --- | --- |")
    for size in sorted({row[0] for row in rows}):
        tests = [row[2] for row in rows if row[0] == size]
        print(f"| {size} | {len(tests)} | {statistics.mean(tests):.3f} | {min(tests):.3f} "
              f"| {max(tests):.3f} |")
    vals, tests = [row[1] for row in rows], [row[2] for row in rows]
    top = max(vals)
    on_test = ", ".join(f"{t:.3f}" for _, v, t, _ in rows if v == top)
    print(f"\nseed prompt without demos: test {seed_test:.3f}")
    print(f"val-test correlation over the sets: {statistics.correlation(vals, tests):.2f}")
    trains = [row[3] for row in rows if row[3] is not None]
    if len(trains) == len(rows) > 1:
        print(f"train-test correlation over the sets ({args.train} train examples each, less "
              f"its demos): {statistics.correlation(trains, tests):.2f}")
    print(f"sets best on val (val {top:.3f}) on test: {on_test}; best set on test: "
          f"{max(tests):.3f}")


def main() -> None:
    args = parse()
    os.environ.setdefault("HONED_FORBID_NETWORK", "1")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        task = write_task(folder, args.dataset, args.val, args.test, args.seed)
        seed_test, rows = asyncio.run(landscape(task, folder / "home", args))
    report(args, seed_test, rows)


if __name__ == "__main__":
    main()
