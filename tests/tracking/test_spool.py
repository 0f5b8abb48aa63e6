"""MLflow off the critical path: the spool, the background flusher, recovery after a kill.

Every test checks what lands in a real MLflow store (a copy of a prepared SQLite db)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
import uuid
from pathlib import Path

import pytest

from honed.cli.app import main
from honed.lifecycle.registries import open_registry
from honed.tracking import mlflow as tracking
from honed.tracking.events import CallCompleted
from honed.tracking.mlflow import MlflowTracker, flush_pending, tracking_uri
from honed.tracking.mlflow import replay as replay_module
from honed.tracking.mlflow.logged import optimization_metrics, summary_metrics
from honed.tracking.mlflow.spool import claim, flusher_env, spool_dir


def client(home: Path):
    from mlflow import MlflowClient

    uri = tracking_uri(home)
    return MlflowClient(tracking_uri=uri, registry_uri=uri)


def runs(home: Path, experiment: str) -> list:
    c = client(home)
    exp = c.get_experiment_by_name(experiment)
    return [] if exp is None else c.search_runs([exp.experiment_id])


def wait_flushed(home: Path, timeout: float = 180.0) -> None:
    deadline = time.monotonic() + timeout
    while list(spool_dir(home).glob("*.json")):
        assert time.monotonic() < deadline, "the background flusher did not finish"
        time.sleep(0.1)


def call(i: int) -> CallCompleted:
    return CallCompleted("eval test", "cand", f"ex{i}", "fake", (
        {"role": "user", "content": f"text {i}"},), f"out {i}", 10 + i, 2, 0.25, 0.001, False)


def recorded_tracker(home: Path, name: str = "spooled", calls: int = 6) -> MlflowTracker:
    """A finished run in the spool (final file written, nothing logged yet)."""
    tracker = MlflowTracker(home, name, kind="eval", params={"split": "test"}, max_traces=4)
    tracker.background = False
    tracker.start()
    for i in range(calls):
        tracker(call(i))
    tracker.log_eval({"score": 0.5, "n": 2, "ci95": [0.0, 1.0], "split": "test"},
                     [{"example_id": "a", "score": 1.0}, {"example_id": "b", "score": 0.0}])
    tracker._ended, tracker._status = True, "FINISHED"
    tracker._save(final=True)
    return tracker


def cli_task(make_task, tmp_path: Path) -> Path:
    """Tracking on (the default, auto), separate val/test so an optimization may run."""
    path = make_task()
    path.write_text(path.read_text().replace("tracking: none\n", ""), encoding="utf-8")
    for split, n in (("train", 6), ("val", 8), ("test", 10)):
        rows = [{"text": f"{split} {i}", "label": "positive" if i % 2 else "negative"}
                for i in range(n)]
        (tmp_path / "data" / f"{split}.jsonl").write_text(
            "".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def run_cli(capsys, *args: str) -> dict:
    code = main([*args, "--json"])
    out = capsys.readouterr()
    assert code == 0, out.err
    return json.loads(out.out)


# the background path ------------------------------------------------------------------------
def test_a_background_run_never_imports_mlflow_and_is_logged_after(mlflow_home: Path) -> None:
    script = textwrap.dedent(f"""
        import sys
        from pathlib import Path
        from honed.tracking.events import CallCompleted
        from honed.tracking.mlflow import MlflowTracker
        t = MlflowTracker(Path({str(mlflow_home)!r}), "bg", params={{"split": "test"}},
                          background=True)
        t.start()
        t(CallCompleted("eval", "c", "e", "fake", ({{"role": "user", "content": "hi"}},),
                        "hi", 1, 1, 0.1, 0.0, False))
        t.log_eval({{"score": 1.0, "n": 1, "ci95": [1.0, 1.0]}}, [{{"example_id": "e"}}])
        t.end()
        assert t.errors == [], t.errors
        assert "mlflow" not in sys.modules, "MLflow was imported on the critical path"
        print(t.tracking_id)
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          check=True, timeout=60)
    wait_flushed(mlflow_home)
    (run,) = runs(mlflow_home, "bg")
    assert run.data.tags["honed.tracking_id"] == done.stdout.strip()
    assert run.data.metrics["score"] == 1.0 and run.info.status == "FINISHED"
    assert not list(spool_dir(mlflow_home).glob("*.error"))


def test_cli_eval_and_optimize_log_everything_in_the_background(
        make_task, mlflow_home: Path, tmp_path: Path, capsys, monkeypatch) -> None:
    """What a tracked command logged before MLflow left the critical path still arrives:
    params, every metric with its value, tags, artifacts, traces and registry entries."""
    monkeypatch.setenv("HONED_REGISTRY", "mlflow")
    path = cli_task(make_task, tmp_path)
    evaluated = run_cli(capsys, "eval", str(path), "--max-calls", "500")
    optimized = run_cli(capsys, "optimize", str(path), "--optimizer", "mutate",
                        "--max-calls", "80")
    assert evaluated["warnings"] == [] and optimized["warnings"] == []
    wait_flushed(mlflow_home)
    by_kind = {r.data.tags["honed.kind"]: r for r in runs(mlflow_home, "t")}
    eval_run, opt_run = by_kind["eval"], by_kind["optimize"]
    assert eval_run.data.params == {"split": "test", "model": "fake", "cache": "true",
                                    "limits.max_calls": "500"}
    expected = {**summary_metrics(evaluated),
                **{f"per_eval/{k}": v for k, v in evaluated["per_eval"].items()}}
    assert eval_run.data.metrics == pytest.approx(expected)
    assert opt_run.data.params["optimizer"] == "mutate"
    for key, value in optimization_metrics(optimized).items():
        assert opt_run.data.metrics[key] == pytest.approx(value), key
    assert opt_run.data.tags["honed.run_id"] == optimized["run_id"]
    c = client(mlflow_home)
    assert {a.path for a in c.list_artifacts(eval_run.info.run_id)} == {
        "eval.json", "results.json", "results.csv", "prompt.json"}
    assert {a.path for a in c.list_artifacts(opt_run.info.run_id)} == {
        "result.json", "best_prompt.json", "best_prompt.md", "trajectory.json",
        "trajectory.csv", "candidates.json"}
    assert len(c.get_metric_history(opt_run.info.run_id, "val/best")) >= 2
    exp_id = eval_run.info.experiment_id
    traces = c.search_traces(locations=[exp_id], run_id=eval_run.info.run_id)
    assert len(traces) == evaluated["calls"] == 10
    registry = open_registry(mlflow_home, backend="mlflow")
    assert registry.aliases("t")["candidate"] == optimized["registered"]["version"]
    assert registry.versions("t")[0].tags["honed.source"] == "seed"


def test_tracking_mlflow_waits_and_auto_can_be_told_to(make_task, mlflow_home: Path,
                                                       tmp_path: Path, capsys,
                                                       monkeypatch) -> None:
    path = cli_task(make_task, tmp_path)
    monkeypatch.setenv(tracking.WAIT_ENV, "1")
    run_cli(capsys, "eval", str(path))
    assert not list(spool_dir(mlflow_home).glob("*.json"))  # in MLflow when it returned
    assert len(runs(mlflow_home, "t")) == 1
    monkeypatch.delenv(tracking.WAIT_ENV)
    path.write_text("tracking: mlflow\n" + path.read_text(), encoding="utf-8")
    run_cli(capsys, "eval", str(path))
    assert len(runs(mlflow_home, "t")) == 2


# recovery ---------------------------------------------------------------------------------------
def test_an_interrupted_replay_resumes_without_duplicates(mlflow_home: Path,
                                                          monkeypatch) -> None:
    tracker = recorded_tracker(mlflow_home)
    real, written = replay_module._trace, []

    def dies_after_two(*args, **kwargs):
        if len(written) == 2:
            raise RuntimeError("killed mid-way")
        written.append(real(*args, **kwargs))
        return written[-1]

    monkeypatch.setattr(replay_module, "_trace", dies_after_two)
    first = flush_pending(mlflow_home, grace_s=0)
    assert first.errors and "killed mid-way" in first.errors[0]
    assert tracker.spool_path.exists()
    (half,) = runs(mlflow_home, "spooled")
    assert half.info.status == "RUNNING"
    monkeypatch.setattr(replay_module, "_trace", real)
    (receipt,) = flush_pending(mlflow_home, grace_s=0).receipts
    assert receipt.resumed and receipt.run_id == half.info.run_id
    assert len(receipt.trace_ids) == 2  # only the two that were missing
    c = client(mlflow_home)
    (run,) = runs(mlflow_home, "spooled")
    assert run.info.status == "FINISHED"
    assert len(c.search_traces(locations=[run.info.experiment_id], run_id=run.info.run_id)) == 4
    assert len(c.get_metric_history(run.info.run_id, "score")) == 1
    assert not tracker.spool_path.exists()
    assert tracking.failures(mlflow_home) == []


def test_a_killed_flusher_loses_nothing(mlflow_home: Path) -> None:
    tracker = recorded_tracker(mlflow_home, "killed-flusher")
    proc = subprocess.Popen([sys.executable, "-m", "honed.tracking.mlflow.flush",
                             str(tracker.spool_path)], env=flusher_env(),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(2.5)  # wherever it is (importing, half-way, done): kill it
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    flush_pending(mlflow_home, grace_s=0)
    assert not tracker.spool_path.exists()
    (run,) = runs(mlflow_home, "killed-flusher")
    c = client(mlflow_home)
    assert run.info.status == "FINISHED" and run.data.metrics["score"] == 0.5
    assert len(c.search_traces(locations=[run.info.experiment_id], run_id=run.info.run_id)) == 4
    assert {a.path for a in c.list_artifacts(run.info.run_id)} >= {"eval.json", "results.csv"}


def test_a_killed_command_is_logged_as_killed(mlflow_home: Path) -> None:
    tracker = MlflowTracker(mlflow_home, "crashed", params={"split": "val"})
    tracker.start()  # writes the first checkpoint, owned by this (living) process
    assert tracking.pending(mlflow_home, grace_s=0) == []
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    record = json.loads(tracker.spool_path.read_text())
    record["owner"]["pid"] = gone.pid  # as if the command had died
    tracker.spool_path.write_text(json.dumps(record))
    assert tracking.pending(mlflow_home, grace_s=0) == [tracker.spool_path]
    flush_pending(mlflow_home)
    (run,) = runs(mlflow_home, "crashed")
    assert run.info.status == "KILLED" and run.data.params == {"split": "val"}


def test_a_file_being_flushed_is_left_alone(mlflow_home: Path) -> None:
    tracker = recorded_tracker(mlflow_home, "locked")
    with claim(tracker.spool_path) as record:
        assert record is not None and record["final"]
        assert tracking.pending(mlflow_home, grace_s=0) == []
        assert tracking.flush_file(tracker.spool_path) is None
    assert runs(mlflow_home, "locked") == []
    assert tracking.flush_file(tracker.spool_path) is not None
    assert len(runs(mlflow_home, "locked")) == 1


def test_failures_are_reported_to_the_next_run_and_bad_files_set_aside(
        mlflow_home: Path) -> None:
    folder = spool_dir(mlflow_home)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "torn.json").write_text('{"format": 1, "fin')
    assert flush_pending(mlflow_home, grace_s=0).receipts == []
    assert (folder / "failed" / "torn.json").exists() and not (folder / "torn.json").exists()
    tracker = MlflowTracker(mlflow_home, "next", background=True)
    tracker.start()
    assert any("gave up" in line and "not a honed spool record" in line
               for line in tracker.errors)
    assert tracking.failures(mlflow_home) == []  # a given-up run is reported once


# secrets ----------------------------------------------------------------------------------------
def test_the_spool_and_the_flusher_never_see_a_key(mlflow_home: Path, monkeypatch) -> None:
    canary = "canary-" + uuid.uuid4().hex
    monkeypatch.setenv("MY_LLM_KEY", canary)
    monkeypatch.setenv("MLFLOW_TRACKING_TOKEN", "mlflow-needs-this-one")
    tracker = MlflowTracker(mlflow_home, "secret", params={"api_key": canary,
                                                           "note": f"with {canary}"},
                            secret_names=["MY_LLM_KEY"])
    tracker.start()
    tracker(CallCompleted("eval", "c", "e", "fake", ({"role": "user", "content": canary},),
                          f"echo {canary}", 1, 1, 0.1, 0.0, False))
    tracker.log_eval({"score": 1.0, "debug": canary}, [{"output": canary}])
    assert canary not in json.dumps(tracker.record(final=True))
    assert canary not in tracker.spool_path.read_text()
    env = flusher_env(["MY_LLM_KEY"])
    assert "MY_LLM_KEY" not in env and canary not in env.values()
    assert env["MLFLOW_TRACKING_TOKEN"] == "mlflow-needs-this-one"
    tracker.end()
    assert tracker.errors == [] and os.environ["MY_LLM_KEY"] == canary


def test_honed_ui_logs_what_is_left_first(mlflow_home: Path, capsys) -> None:
    recorded_tracker(mlflow_home, "left-behind")
    code = main(["registry", "ui"])
    out = capsys.readouterr()
    assert code == 0 and "logged 1 run(s)" in out.err and out.out.startswith("LITELLM_")
    assert len(runs(mlflow_home, "left-behind")) == 1
    assert main(["registry", "ui", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["logged_runs"] == 0


def test_one_background_flusher_per_home(mlflow_home: Path) -> None:
    """Commands run in a loop do not start a flusher each: while one runs, it is told nothing
    and still finds what was written meanwhile."""
    from honed.tracking.mlflow.flush import drain
    from honed.tracking.mlflow.spool import flusher_lock, spawn_flusher

    with flusher_lock(mlflow_home) as mine:
        assert mine
        first = recorded_tracker(mlflow_home, "loop-1")
        second = recorded_tracker(mlflow_home, "loop-2")
        assert spawn_flusher(mlflow_home) is False
        assert drain(mlflow_home).receipts == []  # another process (here: this block) has it
    drained = drain(mlflow_home)
    assert len(drained.receipts) == 2 and drained.errors == []
    assert not first.spool_path.exists() and not second.spool_path.exists()
    assert len(runs(mlflow_home, "loop-1")) == len(runs(mlflow_home, "loop-2")) == 1


def test_a_spooled_uri_holds_no_password_and_no_relative_path(tmp_path: Path,
                                                               monkeypatch) -> None:
    from honed.tracking.mlflow.store import public_uri, resolve_uri

    secret = "http://me:hunter2-pass@mlflow.internal:5000/path"
    assert public_uri(secret) == "http://me@mlflow.internal:5000/path"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", secret)
    assert resolve_uri(public_uri(secret)) == secret  # the password comes from the env again
    assert resolve_uri("http://other:5000") == "http://other:5000"
    monkeypatch.chdir(tmp_path)
    assert public_uri("sqlite:///runs/mlflow.db") == f"sqlite:///{tmp_path}/runs/mlflow.db"
    tracker = MlflowTracker(tmp_path, "t", uri=secret)
    tracker.start()
    assert "hunter2" not in tracker.spool_path.read_text()
