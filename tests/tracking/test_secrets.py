"""API keys never reach disk: a canary key is set, a tracked eval runs against a loopback
OpenAI-compatible server, and no file under $HONED_HOME (run store, cache, MLflow db with its
params, tags, metrics and traces, artifacts) may contain it."""

from __future__ import annotations

import json
import shutil
import uuid
from pathlib import Path

import pytest

from honed.engine.evaluate import run_eval
from honed.providers.fake_server import FakeServer
from honed.task.config import load_task
from honed.tracking.mlflow import open_tracker, tracking_uri

CASES = {
    # the default key variable, with a key-shaped value
    "openai-key": ("OPENAI_API_KEY", "sk-canary-" + uuid.uuid4().hex[:20], None),
    # a variable named in the task, holding a value with no key shape at all
    "api-key-env": ("HONED_LLM_CREDS", f"canary-horse-battery-staple-{uuid.uuid4().int % 997}",
                    "HONED_LLM_CREDS"),
}


def write_task(tmp_path: Path, make_task, base_url: str, key_env: str | None) -> Path:
    path = make_task()
    extra = f"\n  api_key_env: {key_env}" if key_env else ""
    text = path.read_text().replace(
        "model: fake", f"model:\n  spec: openai:gpt-4o-mini\n  base_url: {base_url}{extra}"
    ).replace("tracking: none", "tracking: mlflow")
    path.write_text(text, encoding="utf-8")
    return path


def leaks(home: Path, canary: str) -> list[str]:
    needle = canary.encode()
    files = [p for p in home.rglob("*") if p.is_file()]
    assert files, f"nothing was written under {home}"
    return [str(p.relative_to(home)) for p in files if needle in p.read_bytes()]


@pytest.mark.parametrize("case", list(CASES))
def test_canary_key_never_reaches_disk(case: str, make_task, mlflow_home: Path, tmp_path: Path,
                                       monkeypatch) -> None:
    env_name, canary, key_env = CASES[case]
    monkeypatch.setenv(env_name, canary)
    with FakeServer(fail_plan=[401]) as server:  # the 401 quotes the credentials back
        task = load_task(write_task(tmp_path, make_task, server.url, key_env))
        tracker = open_tracker(task, mlflow_home, "eval", params={
            "model": task.model.model_dump(), "api_key": canary, "note": f"uses {canary}",
            "headers": {"Authorization": f"Bearer {canary}"}, "env": {env_name: canary}})
        assert tracker is not None
        tracker.start()
        run = run_eval(task, split="test", callbacks=[tracker])
        rows = [r.to_dict() for r in run.report.results]
        tracker.log_eval({**run.to_dict(), "debug": f"key was {canary}"}, rows,
                         prompt={"system": "Classify.", "user": "{text}",
                                 "secret_header": canary})
        tracker.end()
        assert server.headers and any(canary in json.dumps(h) for h in server.headers)
    assert tracker.errors == []
    assert run.report.summary.n_total == 10 and run.report.summary.errors == 1
    assert len(tracker.trace_ids) == 9  # the calls that got an answer were all traced
    store = (mlflow_home / "mlflow.db").read_bytes()
    assert b"I love it" in store or b"great value" in store  # traces hold real content
    assert leaks(mlflow_home, canary) == []


def test_cli_eval_with_tracking_leaks_nothing(cli, make_task, mlflow_template: Path,
                                              tmp_path: Path) -> None:
    """Through the real entry point: `honed eval` with tracking on (task default: auto)."""
    home = tmp_path / "cli-home"
    home.mkdir()
    shutil.copyfile(mlflow_template, home / "mlflow.db")
    canary = "sk-canary-" + uuid.uuid4().hex[:20]
    with FakeServer() as server:
        path = write_task(tmp_path, make_task, server.url, None)
        result = cli("eval", str(path), "--json", env={
            "OPENAI_API_KEY": canary, "HONED_HOME": str(home)})
    assert result.returncode == 0, result.stderr
    assert canary not in result.stdout + result.stderr
    assert leaks(home, canary) == []
    from mlflow import MlflowClient

    uri = tracking_uri(home)
    experiment = MlflowClient(tracking_uri=uri).get_experiment_by_name("t")
    assert experiment is not None, "honed eval did not log to MLflow (tracking not wired?)"
