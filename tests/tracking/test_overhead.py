"""Tracking stays off the critical path: whole-command wall clock in a subprocess, with MLflow
installed and tracking on (``benchmarks/tracking_overhead.py`` measures the same, in full).

The limits are generous and each command is timed as the fastest of a few runs, so a noisy
machine does not fail the test; a slow one is judged against the same command untracked."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from honed.tracking.mlflow import spool_dir
from honed.tracking.mlflow.spool import flusher_running

HONED = str(Path(sys.executable).with_name("honed"))
RUNS = 3


def write_task(folder: Path, tracking: str, n: int = 400) -> Path:
    rows = "".join(json.dumps({"text": f"example {i}", "label": f"example {i}"}) + "\n"
                   for i in range(n))
    (folder / "data.jsonl").write_text(rows, encoding="utf-8")
    task = folder / f"task-{tracking}.yaml"
    task.write_text(f"name: overhead\nmodel: fake\ntracking: {tracking}\n"
                    "prompt:\n  user: '{text}'\n"
                    "data:\n  train: data.jsonl\n  val: data.jsonl\n  test: data.jsonl\n"
                    "evals:\n  - type: exact_match\n    expected: '{label}'\n", encoding="utf-8")
    return task


def fastest(argv: list[str], home: Path, runs: int = RUNS, *, warm_up: bool = True) -> float:
    """The fastest of ``runs`` runs (after a warm-up run); waits for background logging in
    between (not counted) so that runs do not compete for the CPU."""
    times = []
    for i in range(runs + warm_up):
        start = time.perf_counter()
        result = subprocess.run(argv, capture_output=True, text=True, timeout=120)
        elapsed = time.perf_counter() - start
        assert result.returncode == 0, result.stderr
        if i or not warm_up:
            times.append(elapsed)
        deadline = time.monotonic() + 180
        while (list(spool_dir(home).glob("*.json")) or flusher_running(home)) and (
                time.monotonic() < deadline):
            time.sleep(0.1)
    return min(times)


def test_tracked_commands_stay_fast(tmp_path: Path, mlflow_template: Path, monkeypatch) -> None:
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.delenv("HONED_REGISTRY", raising=False)
    home = Path(os.environ["HONED_HOME"])
    home.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(mlflow_template, home / "mlflow.db")
    untracked = fastest([HONED, "eval", str(write_task(tmp_path, "none")), "--json"], home)
    # the same prompt, model and examples: the untracked runs filled the response cache
    tracked = fastest([HONED, "eval", str(write_task(tmp_path, "auto")), "--json"], home,
                      runs=2, warm_up=False)
    listed = fastest([HONED, "registry", "list"], home)
    helped = fastest([HONED, "--help"], home)
    report = (f"untracked {untracked:.2f}s, tracked {tracked:.2f}s, registry list "
              f"{listed:.2f}s, --help {helped:.2f}s")
    assert tracked < max(3.0, 2.0 * untracked), report
    assert listed < max(1.5, 3.0 * helped), report
    assert helped < 1.0, report
    assert list(spool_dir(home).glob("*.json")) == [], "background logging did not finish"
