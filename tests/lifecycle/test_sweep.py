"""Sweeps: the grid from a sweep file, runs that are never run twice, one summary, and the same
results locally and as Ray tasks (on one local Ray cluster for the module)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from honed.errors import ConfigError
from honed.lifecycle.sweep import load_sweep, run_sweep
from honed.tracking.events import Event

SWEEP = """\
name: demo
tasks: [task.yaml]
optimizers: [mutate, fewshot]
seeds: [0, 1]
budget: {max_calls: 90}
"""


def _task(make_task: Callable[..., Path]) -> Path:
    """The shared sentiment task, with a held-out test split of its own."""
    path = make_task()
    (path.parent / "data" / "test.jsonl").write_text("".join(
        json.dumps({"text": f"held out {i}", "label": "neutral"}) + "\n" for i in range(8)))
    return path


def _sweep(folder: Path, body: str = SWEEP) -> Path:
    path = folder / "sweep.yaml"
    path.write_text(body, encoding="utf-8")
    return path


def _scores(report: dict[str, Any]) -> dict[tuple[str, int], tuple[Any, ...]]:
    """What a run found, by optimizer and seed (not how long it took or where)."""
    out = {}
    for row in report["runs"]:
        result = json.loads(Path(row["result_file"]).read_text())["result"]
        out[row["optimizer"], row["seed"]] = (
            result["seed"], result["best"], result["test_diff"], result["rollouts"],
            result["calls"])
    return out


def test_the_grid_and_its_keys(make_task: Callable[..., Path], tmp_path: Path) -> None:
    _task(make_task)
    sweep = load_sweep(_sweep(tmp_path, SWEEP + "models: [fake, 'fake:answer=positive']\n"))
    assert len(sweep.runs) == 2 * 2 * 2 and sweep.name == "demo"
    assert len({r.key for r in sweep.runs}) == 8
    assert [r.key for r in load_sweep(sweep.source).runs] == [r.key for r in sweep.runs]
    assert sweep.out == (tmp_path / "sweep-out").resolve()
    assert sweep.runs[0].label() == "t · fake · mutate · seed 0"
    twice = load_sweep(_sweep(tmp_path, SWEEP.replace("seeds: [0, 1]", "seeds: [0, 0]")))
    assert len(twice.runs) == 2  # a run is in the grid once


@pytest.mark.parametrize(("body", "says"), [
    ("tasks: []\n", "sweep.yaml"),
    ("tasks: [task.yaml]\nseedz: [1]\n", "seedz"),
    ("tasks: [missing.yaml]\n", "tasks[0]"),
    ("tasks: [task.yaml]\noptimizers: [nonesuch]\n", "nonesuch"),
    ("tasks: [task.yaml]\nexecutor: spark\n", "sweep.yaml (executor): unknown executor"),
    ("tasks: [task.yaml]\nmodels: [fake, 'gpt4']\n", "(models[1]): unknown model provider"),
    ("- just a list\n", "a sweep file must be a YAML mapping"),
])
def test_a_bad_sweep_file_names_the_culprit(make_task: Callable[..., Path], tmp_path: Path,
                                            body: str, says: str) -> None:
    _task(make_task)
    with pytest.raises(ConfigError) as caught:
        load_sweep(_sweep(tmp_path, body))
    assert says in str(caught.value)


def test_finished_runs_are_not_run_again(make_task: Callable[..., Path],
                                         tmp_path: Path) -> None:
    _task(make_task)
    sweep = load_sweep(_sweep(tmp_path))
    events: list[Event] = []
    first = run_sweep(sweep, callbacks=[events.append])
    assert (first["finished"], first["reused"], first["failed"]) == (4, 0, 0)
    assert len(events) == 1 + 4  # the plan, then one line per finished run
    on_disk = json.loads((sweep.out / "sweep.json").read_text())
    assert on_disk["summary"] == first["summary"]
    assert [(r["optimizer"], r["runs"]) for r in first["summary"]] == [("mutate", 2),
                                                                      ("fewshot", 2)]
    again = run_sweep(sweep)
    assert (again["finished"], again["reused"]) == (0, 4)
    assert _scores(again) == _scores(first)
    Path(first["runs"][1]["result_file"]).unlink()
    third = run_sweep(sweep)
    assert (third["finished"], third["reused"]) == (1, 3)
    assert _scores(third) == _scores(first)


def test_a_failed_run_is_reported_and_retried_next_time(
        make_task: Callable[..., Path], tmp_path: Path) -> None:
    _task(make_task)
    body = "tasks: [task.yaml]\nmodels: [fake, 'openai:gpt-4o-mini']\noptimizers: [mutate]\n" \
           "budget: {max_calls: 60}\n"
    sweep = load_sweep(_sweep(tmp_path, body))
    report = run_sweep(sweep)
    assert (report["finished"], report["failed"]) == (1, 1)
    failed = next(r for r in report["runs"] if r["status"] == "failed")
    assert failed["error"].startswith("AuthError") and "OPENAI_API_KEY" in failed["error"]
    assert not Path(failed["result_file"]).exists()
    assert [s["failed"] for s in report["summary"]] == [0, 1]
    again = run_sweep(sweep)
    assert (again["reused"], again["failed"]) == (1, 1)


# as Ray tasks --------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def ray_cluster() -> Iterator[Any]:
    ray = pytest.importorskip("ray")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray
    ray.shutdown()


def test_on_ray_the_same_results_and_the_same_resume(
        ray_cluster: Any, make_task: Callable[..., Path], tmp_path: Path) -> None:
    _task(make_task)
    path = _sweep(tmp_path)
    local = run_sweep(load_sweep(path, tmp_path / "local"))
    on_ray = run_sweep(load_sweep(path, tmp_path / "ray"), executor="ray")
    assert on_ray["executor"] == "ray" and on_ray["finished"] == 4
    assert _scores(on_ray) == _scores(local)
    again = run_sweep(load_sweep(path, tmp_path / "ray"), executor="ray")
    assert (again["finished"], again["reused"]) == (0, 4)
