"""The protocol's settings, the dev/final data partition and the per-seed splits.

Each dataset's rows (all of its files, pooled, duplicates by input dropped) are partitioned once
by a hash of the input: 30% for development, 70% for the final table. Tuning only ever sees the
development part; the final table draws its splits from the final part, after the settings were
frozen (``protocol.py freeze``). For every seed a fresh random split of the part is drawn:
train, val and test (one test sample is never reused across seeds).
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import subprocess
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DATASETS = Path(os.environ.get("HONED_DATASETS") or ROOT.parent / "shared" / "datasets")
VERSION = 3  # v2's final table (frozen at 7fff06b) stays in results/protocol-v2
RESULTS = ROOT / "benchmarks" / "results" / f"protocol-v{VERSION}"

# dataset -> (seed system prompt, input field, label field)
TASKS: dict[str, tuple[str, str, str]] = {
    "banking10": ("Classify the banking customer message.", "text", "label"),
    "banking77": ("Classify the banking customer message.", "text", "label"),
    "tweeteval-emotion": ("Classify the emotion of the tweet.", "text", "label"),
    "bbh-sports-understanding": ("Is the sentence plausible?", "input", "target"),
    "bbh-boolean-expressions": ("Evaluate the boolean expression.", "input", "target"),
    "landscape": ("Classify the support request.", "text", "label"),  # the scripted model
}
FAKE = {"landscape"}  # tasks on the scripted fake endpoint (protocol_landscape), not on local
DEV_SHARE = 0.3
# split sizes per part: (train, val, test); small datasets get smaller splits
SIZES = {"large": {"dev": (100, 40, 60), "final": (200, 50, 150)},
         "small": {"dev": (25, 15, 25), "final": (50, 40, 80)},
         "landscape": {"dev": (60, 40, 60), "final": (200, 50, 150)}}
SMALL = {"bbh-sports-understanding", "bbh-boolean-expressions"}

# optimizer variant -> (honed optimizer name, parameters): peers at their documented settings
OPTIMIZERS: dict[str, tuple[str, dict[str, Any]]] = {
    "auto": ("auto", {}),
    "mipro-light": ("dspy:mipro", {"auto": "light"}),
    "mipro-medium": ("dspy:mipro", {"auto": "medium"}),
    "dspy-gepa-light": ("dspy:gepa", {"auto": "light"}),
    "bootstrap-rs": ("dspy:bootstrap-rs", {"num_candidate_programs": 16,
                                           "max_bootstrapped_demos": 4,
                                           "max_labeled_demos": 16}),
    "gepa": ("gepa", {}),
    "mlflow-gepa": ("mlflow", {"algorithm": "gepa"}),
}
SETTINGS: dict[str, Any] = {
    "version": VERSION, "max_calls": 700, "seeds": [0, 1, 2, 3, 4],
    # v3's final splits are drawn with seeds v2's final table did not use: v2's final results
    # informed v3's change to auto, so its splits are not reused
    "final_seeds": [5, 6, 7, 8, 9],
    # development only: the dev data under a budget that puts every optimizer in the regime
    # the final splits' larger val and test put it in at max_calls (a search budget under a
    # dozen val evaluations)
    "dev_budgets": {"dev-small": 400},
    "dev_share": DEV_SHARE,
    "sizes": SIZES, "small": sorted(SMALL), "tasks": TASKS, "optimizers": OPTIMIZERS,
    "model": "local (landscape: the scripted fake endpoint)", "curve_points": 6,
}


def read(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


def size_class(dataset: str) -> str:
    return "landscape" if dataset in FAKE else "small" if dataset in SMALL else "large"


def pooled(dataset: str) -> list[dict[str, Any]]:
    """Every row of the dataset's files, first occurrence of each input kept, in file order."""
    if dataset in FAKE:
        from protocol_landscape import rows

        return rows()
    _, field, _ = TASKS[dataset]
    seen: set[str] = set()
    rows = []
    for name in ("train", "val", "test"):
        path = DATASETS / dataset / f"{name}.jsonl"
        for row in read(path) if path.exists() else []:
            key = " ".join(str(row[field]).lower().split())
            if key not in seen:
                seen.add(key)
                rows.append(row)
    return rows


def _unit(text: str, salt: str) -> float:
    digest = hashlib.sha256(f"{salt}:{text}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def part(dataset: str, phase: str) -> list[dict[str, Any]]:
    """The development or final part of a dataset (a fixed partition by a hash of the input)."""
    _, field, _ = TASKS[dataset]
    return [r for r in pooled(dataset)
            # the salt v2 fixed: every version keeps the same partition
            if (_unit(str(r[field]), "protocol-v2-partition") < DEV_SHARE) == (phase == "dev")]


def split(dataset: str, phase: str, seed: int) -> dict[str, list[dict[str, Any]]]:
    """A fresh random train/val/test split of the phase's part for this seed."""
    rows = part(dataset, phase)
    n_train, n_val, n_test = SIZES[size_class(dataset)][phase]
    if n_train + n_val + n_test > len(rows):
        raise ValueError(f"{dataset} {phase}: {len(rows)} rows, need "
                         f"{n_train + n_val + n_test}")
    order = list(range(len(rows)))
    random.Random(f"protocol-v2:{phase}:{dataset}:{seed}").shuffle(order)
    picked = [rows[i] for i in order]
    return {"train": picked[:n_train], "val": picked[n_train:n_train + n_val],
            "test": picked[n_train + n_val:n_train + n_val + n_test]}


def write_task(folder: Path, dataset: str, splits: dict[str, list[dict[str, Any]]]) -> Path:
    """The task file and its data, on the embedded model (labels from the train split)."""
    system, field, label = TASKS[dataset]
    labels = sorted({str(r[label]) for rows in splits.values() for r in rows})
    for name, rows in splits.items():
        (folder / f"{name}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows),
                                              encoding="utf-8")
    task = folder / "task.yaml"
    task.write_text(
        f"name: {dataset}\nmodel:\n  spec: {'fake' if dataset in FAKE else 'local'}\n"
        + ("" if dataset in FAKE else f"  n_threads: {os.cpu_count() or 2}\n") +
        "tracking: none\n"
        f"prompt:\n  system: {json.dumps(system)}\n  user: '{{{field}}}'\n"
        f"output:\n  choices: {json.dumps(labels)}\n"
        "data:\n  train: train.jsonl\n  val: val.jsonl\n  test: test.jsonl\n"
        f"evals:\n  - type: exact_match\n    expected: '{{{label}}}'\n", encoding="utf-8")
    return task


def code_hash() -> str:
    """The git tree of src/honed/optimizers and src/honed/engine at HEAD plus uncommitted
    changes there: what a frozen setting must not drift from."""
    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True,
                              check=False).stdout.strip()

    trees = [git("rev-parse", f"HEAD:src/honed/{p}") for p in ("optimizers", "engine")]
    dirty = git("diff", "HEAD", "--", "src/honed/optimizers", "src/honed/engine")
    return hashlib.sha256("\n".join([*trees, dirty]).encode()).hexdigest()[:16]


def settings_hash() -> str:
    text = json.dumps(SETTINGS, sort_keys=True, default=str) + code_hash()
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def commit() -> str:
    return subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True,
                          text=True, check=False).stdout.strip()
