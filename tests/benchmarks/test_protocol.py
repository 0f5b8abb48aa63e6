"""The benchmark protocol's data handling and summary: the partition, the per-seed splits,
the verdicts."""

from __future__ import annotations

import importlib
import json
import sys
from pathlib import Path
from types import ModuleType

import pytest

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"


def _load(name: str) -> ModuleType:
    if str(BENCHMARKS) not in sys.path:
        sys.path.insert(0, str(BENCHMARKS))
    return importlib.reload(importlib.import_module(name))


@pytest.fixture
def data(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    """protocol_data over a small fixture dataset (never the shared datasets)."""
    folder = tmp_path / "datasets" / "banking10"
    folder.mkdir(parents=True)
    rows = [{"text": f"message number {i}", "label": f"l{i % 5}"} for i in range(900)]
    rows.append(dict(rows[3]))  # a duplicate input across files is pooled once
    for name, part in (("train", rows[:500]), ("test", rows[500:])):
        (folder / f"{name}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in part))
    monkeypatch.setenv("HONED_DATASETS", str(tmp_path / "datasets"))
    module = _load("protocol_data")
    monkeypatch.setattr(module, "RESULTS", tmp_path / "results")
    return module


def test_dev_and_final_parts_are_disjoint_and_fixed(data: ModuleType) -> None:
    pooled = data.pooled("banking10")
    assert len(pooled) == 900
    dev, final = data.part("banking10", "dev"), data.part("banking10", "final")
    assert len(dev) + len(final) == 900 and 0.2 < len(dev) / 900 < 0.4
    assert not {r["text"] for r in dev} & {r["text"] for r in final}
    assert data.part("banking10", "dev") == dev


def test_each_seed_draws_a_fresh_split_of_its_part(data: ModuleType) -> None:
    final = {r["text"] for r in data.part("banking10", "final")}
    tests = []
    for seed in range(3):
        splits = data.split("banking10", "final", seed)
        texts = {k: {r["text"] for r in v} for k, v in splits.items()}
        assert [len(splits[k]) for k in ("train", "val", "test")] == [200, 50, 150]
        assert not texts["train"] & texts["val"] and not texts["test"] & (
            texts["train"] | texts["val"])
        assert texts["test"] <= final
        tests.append(texts["test"])
        assert data.split("banking10", "final", seed) == splits  # reproducible
    assert tests[0] != tests[1] != tests[2]


def test_the_settings_hash_follows_the_settings(data: ModuleType,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    before = data.settings_hash()
    monkeypatch.setitem(data.SETTINGS, "max_calls", 701)
    assert data.settings_hash() != before


def cell(task: str, optimizer: str, seed: int, values: list[float],
         curve: list[list[float]]) -> dict:
    per = {f"e{i}": v for i, v in enumerate(values)}
    score = sum(values) / len(values)
    return {"task": task, "optimizer": optimizer, "seed": seed, "machine": "test",
            "commit": "c", "per_example": {"best": per, "seed": per},
            "best_test": {"score": score, "n": len(values), "errors": 0},
            "seed_test": {"score": score}, "task_model_calls": 600, "proposer_calls": 0,
            "errors": 0, "failed_calls": 0, "wall_s": 1.0, "curve": curve}


def test_a_win_needs_a_ci_that_excludes_zero(data: ModuleType, tmp_path: Path) -> None:
    report = _load("protocol_report")
    report.RESULTS = data.RESULTS
    cells = data.RESULTS / "dev" / "cells"
    cells.mkdir(parents=True)
    for seed in range(5):
        good = [1.0] * 40 + [0.0] * 10
        weak = [1.0] * 20 + [0.0] * 30
        same = good
        for name, values, curve in (("auto", good, [[10, 0.5], [100, 0.8]]),
                                    ("weak", weak, [[10, 0.3], [600, 0.4]]),
                                    ("same", same, [[10, 0.5], [600, 0.8]])):
            (cells / f"t__{name}__s{seed}.json").write_text(
                json.dumps(cell("t", name, seed, values, curve)))
    text = report.write_summary("dev")
    summary = json.loads((data.RESULTS / "dev" / "summary.json").read_text())
    verdicts = {c["peer"]: c["tasks"]["t"]["verdict"] for c in summary["comparisons"]}
    assert verdicts == {"weak": "win", "same": "tie"}
    weak = next(c for c in summary["comparisons"] if c["peer"] == "weak")["tasks"]["t"]
    assert weak["diff"] == pytest.approx(0.4) and weak["ci95"][0] > 0
    assert 0 < weak["sign_flip_p"] <= 0.0625 + 1e-9  # 5 seeds: 2 / 2^5 at best
    reach = summary["calls_to_reach_best_peer"]["t"]
    assert reach["best_peer"] == "same" and reach["optimizers"]["auto"]["median"] == 100
    assert reach["optimizers"]["weak"]["reached"] == 0
    assert "| t | auto |" in text and (data.RESULTS / "dev" / "curves.svg").exists()
