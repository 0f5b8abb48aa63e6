"""``honed sweep`` through the real entry point: the summary table and JSON, resuming, bad
files and flags (exit 2), failed runs (exit 1)."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from honed.cli.app import main


def _sweep(make_task: Callable[..., Path], body: str) -> Path:
    task = make_task()  # with a held-out test split of its own
    (task.parent / "data" / "test.jsonl").write_text("".join(
        json.dumps({"text": f"held out {i}", "label": "neutral"}) + "\n" for i in range(8)))
    path = task.parent / "sweep.yaml"
    path.write_text(body, encoding="utf-8")
    return path


BODY = "tasks: [task.yaml]\noptimizers: [mutate, fewshot]\nseeds: [0, 1]\n" \
       "budget: {max_calls: 90}\nout: results\n"


def test_sweep_runs_once_and_ends_in_one_table(make_task: Callable[..., Path],
                                               capsys: pytest.CaptureFixture[str]) -> None:
    path = _sweep(make_task, BODY)
    assert main(["sweep", str(path), "--json"]) == 0
    first = json.loads(capsys.readouterr().out)
    assert (first["finished"], first["reused"], first["failed"]) == (4, 0, 0)
    assert Path(first["json"]) == path.parent / "results" / "sweep.json"
    assert json.loads(Path(first["json"]).read_text())["runs"] == first["runs"]
    assert main(["sweep", str(path)]) == 0
    out, err = capsys.readouterr()
    assert "sweep sweep" in out and "mutate" in out and "fewshot" in out
    assert "0 ran, 4 already finished, 0 failed" in out
    assert "4 already finished, 0 to run (local)" in err


def test_out_flag_moves_the_results(make_task: Callable[..., Path], tmp_path: Path,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    path = _sweep(make_task, BODY.replace("seeds: [0, 1]", "seeds: [3]"))
    assert main(["sweep", str(path), "--out", str(tmp_path / "elsewhere"), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["finished"] == 2
    assert (tmp_path / "elsewhere" / "sweep.json").exists()
    assert not (path.parent / "results").exists()


@pytest.mark.parametrize(("body", "says"), [
    ("tasks: [task.yaml]\nbudget: {max_calls: -1}\n", "budget.max_calls"),
    ("tasks: [nowhere.yaml]\n", "tasks[0]"),
    ("tasks: [task.yaml]\noptimizers: [magic]\n", "magic"),
])
def test_a_bad_sweep_file_exits_2(make_task: Callable[..., Path],
                                  capsys: pytest.CaptureFixture[str], body: str,
                                  says: str) -> None:
    assert main(["sweep", str(_sweep(make_task, body))]) == 2
    err = capsys.readouterr().err
    assert says in err and "Traceback" not in err


def test_a_missing_sweep_file_is_named(tmp_path: Path,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["sweep", str(tmp_path / "nope.yaml")]) == 2
    assert "nope.yaml: sweep file not found" in capsys.readouterr().err


def test_executor_flag_is_checked_first(make_task: Callable[..., Path],
                                        monkeypatch: pytest.MonkeyPatch,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    path = _sweep(make_task, BODY)
    assert main(["sweep", str(path), "--executor", "slurm"]) == 2
    assert "unknown executor 'slurm'" in capsys.readouterr().err
    monkeypatch.setitem(sys.modules, "ray", None)  # as if Ray were not installed
    assert main(["sweep", str(path), "--executor", "ray"]) == 2
    assert 'pip install "honed[ray]"' in capsys.readouterr().err
    assert not (path.parent / "results").exists()  # nothing ran


def test_a_failed_run_exits_1_and_is_listed(make_task: Callable[..., Path],
                                            capsys: pytest.CaptureFixture[str]) -> None:
    body = "tasks: [task.yaml]\nmodels: [fake, 'openai:gpt-4o-mini']\noptimizers: [mutate]\n" \
           "budget: {max_calls: 60}\n"
    assert main(["sweep", str(_sweep(make_task, body))]) == 1
    out = capsys.readouterr().out
    assert "1 ran, 0 already finished, 1 failed" in out
    assert "failed t · openai:gpt-4o-mini · mutate · seed 0: AuthError" in out
