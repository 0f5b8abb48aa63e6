"""MLflow tracking against a real local store (a copy of a prepared SQLite db, no mocks)."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest

import honed.lifecycle.optimize as run_module
from honed.engine.evaluate import run_eval
from honed.errors import ConfigError
from honed.lifecycle.optimize import OptimizeOptions, optimize
from honed.optimizers.base import SearchContext
from honed.providers.fake import FakeModel, last_user
from honed.task.config import load_task
from honed.tracking import mlflow as tracking
from honed.tracking.events import CallCompleted, CandidateEvaluated
from honed.tracking.mlflow import (
    MlflowTracker,
    mask_text,
    mlflow_available,
    open_tracker,
    redact,
    sensitive_name,
    tracking_uri,
)
from honed.types import Candidate


def client(home: Path):
    from mlflow import MlflowClient

    uri = tracking_uri(home)
    return MlflowClient(tracking_uri=uri, registry_uri=uri)


def only_run(home: Path, experiment: str):
    c = client(home)
    exp = c.get_experiment_by_name(experiment)
    assert exp is not None, f"no experiment {experiment!r}"
    runs = c.search_runs([exp.experiment_id])
    assert len(runs) == 1
    return c, exp, runs[0]


def call(i: int, *, cached: bool = False) -> CallCompleted:
    return CallCompleted("eval test", "cand", f"ex{i}", "fake", (
        {"role": "system", "content": "Classify."}, {"role": "user", "content": f"text {i}"}),
        f"out {i}", 10 + i, 2, 0.25, 0.001, cached)


# store location and offline switches ----------------------------------------------------------
def test_tracking_uri_defaults_to_sqlite_under_home(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    assert tracking_uri(tmp_path) == f"sqlite:///{tmp_path.absolute()}/mlflow.db"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:5999")
    assert tracking_uri(tmp_path) == "http://127.0.0.1:5999"
    assert tracking.artifact_location("http://x") is None
    assert tracking.artifact_location(f"sqlite:///{tmp_path}/mlflow.db") == (
        (tmp_path / "mlartifacts").as_uri())


def test_mlflow_available_does_not_import(monkeypatch) -> None:
    assert mlflow_available()
    code = ("import sys; from honed.tracking.mlflow import mlflow_available; "
            "assert mlflow_available(); assert 'mlflow' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True)
    monkeypatch.setattr(tracking.store.importlib.util, "find_spec", lambda name: None)
    assert not mlflow_available()


def test_offline_defaults_are_set_before_import() -> None:
    code = ("import os; os.environ.pop('MLFLOW_DISABLE_TELEMETRY', None); "
            "from honed.tracking.mlflow import load_mlflow; load_mlflow(); "
            "assert os.environ['MLFLOW_DISABLE_TELEMETRY'] == 'true'; "
            "assert os.environ['LITELLM_LOCAL_MODEL_COST_MAP'] == 'True'")
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_DISABLE_TELEMETRY"}
    subprocess.run([sys.executable, "-c", code], check=True, env=env)


def test_ui_command_names_the_store_and_offline_env(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    text = tracking.ui_command(tmp_path, port=5123)
    assert text.startswith("LITELLM_LOCAL_MODEL_COST_MAP=True MLFLOW_DISABLE_TELEMETRY=true ")
    assert f"mlflow ui --backend-store-uri sqlite:///{tmp_path.absolute()}/mlflow.db" in text
    assert text.endswith("--host 127.0.0.1 --port 5123")


# redaction ------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["api_key", "OPENAI_API_KEY", "apiKey", "accessToken", "token",
                                  "key", "password", "db_passwd", "client_secret", "x-api-key",
                                  "Authorization", "aws.secret_access_key", "openai_key"])
def test_credential_names_are_sensitive(name: str) -> None:
    assert sensitive_name(name)


@pytest.mark.parametrize("name", ["input_tokens", "output_tokens", "max_tokens", "model",
                                  "key_facts", "tokenizer", "monkey", "candidate_id", "split"])
def test_counts_and_ordinary_names_are_kept(name: str) -> None:
    assert not sensitive_name(name)


def test_redact_drops_keys_and_masks_values_recursively(monkeypatch) -> None:
    monkeypatch.setenv("MY_SERVICE_TOKEN", "plainvalue-no-shape")
    data = {"api_key": "x", "model": {"spec": "openai:gpt-4o-mini", "password": "hunter2",
                                      "headers": ["Bearer abcdefgh12345678"]},
            "note": "key sk-canary-0123456789 here", "input_tokens": 12, "ok": True,
            "blob": "AbCdEfGh12345678IjKlMnOpQr", "path": "/tmp/pytest-of-x/pytest-12/home_0",
            "env": "plainvalue-no-shape", "words": "a-perfectly-ordinary-hyphenated-phrase"}
    out = redact(data)
    assert "api_key" not in out and "password" not in out["model"]
    assert out["model"]["spec"] == "openai:gpt-4o-mini"
    assert out["model"]["headers"] == ["[REDACTED]"]
    assert out["note"] == "key [REDACTED] here"
    assert out["blob"] == "[REDACTED]" and out["env"] == "[REDACTED]"
    assert out["input_tokens"] == 12 and out["ok"] is True
    assert out["path"] == data["path"] and out["words"] == data["words"]


def test_mask_text_known_secret_values() -> None:
    assert mask_text("a s3cr3t-value b", ["s3cr3t-value"]) == "a [REDACTED] b"
    assert mask_text("ask-me-anything, task-force") == "ask-me-anything, task-force"


# the tracker ----------------------------------------------------------------------------------
def tracked(path: Path) -> Path:
    """The shared task fixture turns tracking off; these tests want the default (auto)."""
    path.write_text(path.read_text().replace("tracking: none\n", ""), encoding="utf-8")
    return path


def test_open_tracker_modes(make_task, mlflow_home: Path, monkeypatch) -> None:
    task = load_task(tracked(make_task()))
    assert open_tracker(task, mlflow_home, "eval", mode="none") is None
    tracker = open_tracker(task, mlflow_home, "eval")  # task: auto
    assert isinstance(tracker, MlflowTracker) and not tracker.background  # the library waits
    assert open_tracker(task, mlflow_home, "eval", background=True).background
    monkeypatch.setattr(tracking.tracker, "mlflow_available", lambda: False)
    assert open_tracker(task, mlflow_home, "eval", mode="auto") is None
    with pytest.raises(ConfigError, match="MLflow"):
        open_tracker(task, mlflow_home, "eval", mode="mlflow")
    with pytest.raises(ConfigError, match="tracking"):
        open_tracker(task, mlflow_home, "eval", mode="sometimes")


def test_tracked_eval_logs_scores_artifacts_and_traces(make_task, mlflow_home: Path) -> None:
    task = load_task(tracked(make_task()))
    tracker = open_tracker(task, mlflow_home, "eval", params={
        "split": "test", "limits": {"max_calls": 50}, "api_key": "sk-should-not-appear-123"},
        max_traces=4)
    assert tracker is not None
    tracker.start()
    run = run_eval(task, split="test", callbacks=[tracker])
    tracker.log_eval(run.to_dict(), [r.to_dict() for r in run.report.results],
                     prompt=task.seed_candidate().to_dict())
    tracker.end("finished")
    assert tracker.errors == [] and tracker.calls_seen == 10
    c, exp, mrun = only_run(mlflow_home, "t")
    assert mrun.info.status == "FINISHED" and mrun.data.tags["honed.kind"] == "eval"
    metrics, params = mrun.data.metrics, mrun.data.params
    summary = run.to_dict()
    assert metrics["score"] == summary["score"] and metrics["n"] == 10
    assert [metrics["ci95_low"], metrics["ci95_high"]] == summary["ci95"]
    assert "per_eval/exact_match" in metrics and "cost_usd" in metrics
    assert params["split"] == "test" and params["limits.max_calls"] == "50"
    assert "api_key" not in params
    files = {a.path for a in c.list_artifacts(mrun.info.run_id)}
    assert {"eval.json", "results.json", "results.csv", "prompt.json"} <= files
    local = Path(c.download_artifacts(mrun.info.run_id, "results.json"))
    rows = json.loads(local.read_text())["results"]
    assert len(rows) == 10 and {"example_id", "score", "output"} <= set(rows[0])
    assert str(mlflow_home) in exp.artifact_location or "mlartifacts" in exp.artifact_location
    assert len(tracker.trace_ids) == 4
    traces = c.search_traces(locations=[exp.experiment_id], run_id=mrun.info.run_id)
    assert len(traces) == 4
    trace = c.get_trace(tracker.trace_ids[0])
    span = trace.data.spans[0]
    assert span.attributes["input_tokens"] > 0 and span.attributes["latency_s"] >= 0
    assert span.inputs["messages"][0] == {"role": "system", "content": "Classify."}
    assert trace.info.token_usage["total_tokens"] > 0
    assert trace.info.tags["honed.task"] == "t"
    assert os.environ.get("MLFLOW_TRACKING_URI") is None  # the global URI was restored


@dataclass
class Toy:
    """Two proposals; the second names the labels (and wins with `smart`)."""

    name: str = "toy"

    async def search(self, ctx: SearchContext, seed: Candidate) -> None:
        for i, text in enumerate(["Classify carefully.", "Classify. labels: positive, negative"]):
            ctx.iteration = i + 1
            scored = await ctx.evaluate(seed.with_components(system=text), "val")
            ctx.record(scored, accepted=True, phase="toy", note=text)


def smart(request) -> str:
    """Right only when the system prompt names the labels; otherwise always 'positive'."""
    if "labels" in request.messages[0].content:
        return "positive" if "good" in last_user(request) else "negative"
    return "positive"


def split_task(make_task, tmp_path: Path) -> Path:
    path = tracked(make_task())
    for split, n in (("train", 6), ("val", 8), ("test", 10)):
        rows = [{"text": f"{split} {i} {'good' if i % 2 else 'bad'}",
                 "label": "positive" if i % 2 else "negative"} for i in range(n)]
        (tmp_path / "data" / f"{split}.jsonl").write_text(
            "".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def test_tracked_optimization_logs_iterations_result_and_trajectory(
        make_task, mlflow_home: Path, monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setattr(run_module, "build_optimizer", lambda name: Toy())
    task = load_task(split_task(make_task, tmp_path))
    tracker = open_tracker(task, mlflow_home, "optimize", params={"optimizer": "toy"})
    assert tracker is not None
    with tracker:
        result = asyncio.run(optimize(task, OptimizeOptions(optimizer="toy", write_output=False),
                                      callbacks=[tracker], model=FakeModel(smart)))
        tracker.log_optimization(result.to_dict())
    assert tracker.errors == []
    c, _, mrun = only_run(mlflow_home, "t")
    data, run_id = result.to_dict(), mrun.info.run_id
    metrics = mrun.data.metrics
    assert mrun.info.status == "FINISHED" and mrun.data.params["optimizer"] == "toy"
    assert metrics["best/test/score"] == data["best"]["test"]["score"]
    assert metrics["best/val/ci95_low"] == data["best"]["val"]["ci95"][0]
    assert metrics["seed/test/n"] == data["seed"]["test"]["n"]
    assert metrics["test_diff/score"] == data["test_diff"]["diff"]
    assert mrun.data.tags["honed.run_id"] == result.run_id
    history = c.get_metric_history(run_id, "val/best")
    assert [m.step for m in history] == [0, 1, 2]
    assert [m.value for m in history] == sorted(m.value for m in history)
    calls = c.get_metric_history(run_id, "calls")
    assert [m.step for m in calls] == [0, 1, 2, 2] and metrics["calls"] == data["calls"]
    files = {a.path for a in c.list_artifacts(run_id)}
    assert {"result.json", "best_prompt.json", "best_prompt.md", "trajectory.json",
            "trajectory.csv", "candidates.json"} <= files
    best = json.loads(Path(c.download_artifacts(run_id, "best_prompt.json")).read_text())
    assert best["candidate"]["components"]["system"] == data["best"]["prompt"]["system"]
    csv_text = Path(c.download_artifacts(run_id, "trajectory.csv")).read_text()
    assert csv_text.splitlines()[0].startswith("seq,iteration,phase")
    assert len(csv_text.splitlines()) == 1 + 3


def test_traces_are_a_uniform_deterministic_sample(mlflow_home: Path) -> None:
    def sampled() -> list[str]:
        tracker = MlflowTracker(mlflow_home, "sampling", kind="eval", max_traces=5, seed=7)
        tracker.start()
        for i in range(300):
            tracker(call(i))
        tracker.end()
        c = client(mlflow_home)
        return sorted(c.get_trace(t).info.tags["honed.example_id"] for t in tracker.trace_ids)

    first = sampled()
    assert len(first) == 5 and first == sampled()
    assert any(int(x[2:]) >= 5 for x in first)  # not simply the first five calls


def test_iteration_metrics_track_best_per_split(mlflow_home: Path) -> None:
    tracker = MlflowTracker(mlflow_home, "metrics", kind="optimize")
    tracking_id = tracker.start()
    for i, (split, score) in enumerate([("val", 0.5), ("train", 0.9), ("val", 0.4),
                                        ("val", 0.7)]):
        tracker(CandidateEvaluated(i, f"c{i}", split, score, 10, True, 0.5, 10 * i, 0.01 * i))
    tracker.end("failed")
    c, run_id = client(mlflow_home), tracker.run_id
    assert run_id is not None and tracker.errors == []
    assert [m.value for m in c.get_metric_history(run_id, "val/best")] == [0.5, 0.5, 0.7]
    assert [m.value for m in c.get_metric_history(run_id, "train/best")] == [0.9]
    run = c.get_run(run_id)
    assert run.info.status == "FAILED" and run.data.tags["honed.tracking_id"] == tracking_id


def test_tracking_failures_are_kept_not_raised(mlflow_home: Path, tmp_path: Path) -> None:
    """A store that cannot be written: the run stays in the spool, the failure is a warning;
    once the store works again the next flush logs it."""
    (tmp_path / "a-file").write_text("not a folder")
    broken = f"sqlite:///{tmp_path}/a-file/mlflow.db"
    tracker = MlflowTracker(mlflow_home, "fragile", kind="eval", uri=broken)
    tracker.start()
    tracker.log_eval({"score": 1.0, "n": 1, "ci95": [1.0, 1.0]}, [{"example_id": "a"}])
    tracker.end()
    tracker.end()  # idempotent
    assert tracker.run_id is None and len(tracker.errors) == 1
    assert tracking.spool.error_path(tracker.spool_path).exists()
    assert any("failed (1 attempt" in line for line in tracking.failures(mlflow_home))
    record = json.loads(tracker.spool_path.read_text())
    record["uri"] = tracking_uri(mlflow_home)  # the store is back (here: moved)
    record["artifact_location"] = tracking.artifact_location(record["uri"])
    tracker.spool_path.write_text(json.dumps(record))
    flushed = tracking.flush_pending(mlflow_home, grace_s=0)
    assert flushed.errors == [] and len(flushed.receipts) == 1
    assert not tracker.spool_path.exists() and tracking.failures(mlflow_home) == []
    _, _, mrun = only_run(mlflow_home, "fragile")
    assert mrun.data.metrics["score"] == 1.0 and mrun.info.status == "FINISHED"


def test_unreachable_store_is_kept_for_later(tmp_path: Path) -> None:
    (tmp_path / "a-file").write_text("not a folder")
    tracker = MlflowTracker(tmp_path, "t", uri=f"sqlite:///{tmp_path}/a-file/mlflow.db")
    tracker.start()
    tracker.end()
    assert tracker.errors and "a-file" in tracker.errors[0]
    assert tracker.spool_path.exists()  # nothing lost: retried by the next flush


# the real UI ----------------------------------------------------------------------------------
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(url: str, timeout: float = 5.0) -> bytes:
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return response.read()


@pytest.mark.slow
def test_mlflow_ui_serves_the_store(mlflow_home: Path) -> None:
    tracker = MlflowTracker(mlflow_home, "ui-check", kind="eval")
    tracker.start()
    tracker.log_eval({"score": 0.75, "n": 4, "ci95": [0.5, 1.0]}, [{"example_id": "a"}])
    tracker.end()
    assert tracker.errors == []
    port = _free_port()
    exe = Path(sys.executable).with_name("mlflow")
    argv = [str(exe) if exe.exists() else "mlflow", "ui", "--backend-store-uri",
            tracking_uri(mlflow_home), "--host", "127.0.0.1", "--port", str(port)]
    env = {**os.environ, **tracking.UI_ENV}
    server = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        base, deadline = f"http://127.0.0.1:{port}", time.monotonic() + 90
        while True:
            try:
                page = _get(base + "/")
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise
                time.sleep(0.5)
        assert b"<html" in page.lower()
        found = json.loads(_get(f"{base}/api/2.0/mlflow/experiments/get-by-name"
                                f"?experiment_name=ui-check"))
        experiment_id = found["experiment"]["experiment_id"]
        runs = json.loads(urllib.request.urlopen(urllib.request.Request(
            f"{base}/api/2.0/mlflow/runs/search", method="POST",
            data=json.dumps({"experiment_ids": [experiment_id]}).encode(),
            headers={"Content-Type": "application/json"}), timeout=10).read())
        run = runs["runs"][0]
        metrics = {m["key"]: m["value"] for m in run["data"]["metrics"]}
        assert metrics["score"] == 0.75
        artifact = json.loads(_get(f"{base}/get-artifact?path=eval.json"
                                   f"&run_uuid={run['info']['run_id']}"))
        assert artifact["score"] == 0.75  # the UI reads artifacts from $HONED_HOME/mlartifacts
    finally:
        os.killpg(server.pid, 15)
        server.wait(timeout=30)
