"""Shared fixtures: offline switches, an isolated $HONED_HOME, no network but loopback."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from honed.testing import block_network

OFFLINE_ENV = {
    "HONED_FORBID_NETWORK": "1",
    "LITELLM_LOCAL_MODEL_COST_MAP": "True",
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "DO_NOT_TRACK": "true",
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
}

block_network()


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in OFFLINE_ENV.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("HONED_HOME", str(tmp_path / "home"))
    for key in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "ANTHROPIC_API_KEY", "ANTHROPIC_BASE_URL"):
        monkeypatch.delenv(key, raising=False)


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


SENTIMENT = [
    {"text": "I love it", "label": "positive"},
    {"text": "great value", "label": "positive"},
    {"text": "works perfectly", "label": "positive"},
    {"text": "so happy with this", "label": "positive"},
    {"text": "terrible service", "label": "negative"},
    {"text": "broke after a day", "label": "negative"},
    {"text": "awful, never again", "label": "negative"},
    {"text": "waste of money", "label": "negative"},
    {"text": "it is blue", "label": "neutral"},
    {"text": "arrives on monday", "label": "neutral"},
]


@pytest.fixture
def make_task(tmp_path: Path) -> Callable[..., Path]:
    """Write a task file (and its data) and return its path. Keyword args override YAML text."""

    def make(body: str | None = None, rows: list[dict] | None = None,
             name: str = "task.yaml") -> Path:
        write_jsonl(tmp_path / "data" / "train.jsonl", rows or SENTIMENT)
        write_jsonl(tmp_path / "data" / "test.jsonl", rows or SENTIMENT)
        write_jsonl(tmp_path / "data" / "val.jsonl", rows or SENTIMENT)
        text = body if body is not None else (
            "name: t\n"
            "model: fake\n"
            "tracking: none\n"
            "prompt:\n  system: Classify.\n  user: '{text}'\n"
            "data:\n  train: data/train.jsonl\n  val: data/val.jsonl\n  test: data/test.jsonl\n"
            "evals:\n  - type: exact_match\n    expected: '{label}'\n")
        path = tmp_path / name
        path.write_text(text, encoding="utf-8")
        return path

    return make


def _honed_executable() -> str:
    candidate = Path(sys.executable).with_name("honed")
    return str(candidate) if candidate.exists() else "honed"


@pytest.fixture
def cli() -> Callable[..., subprocess.CompletedProcess[str]]:
    """Run the real ``honed`` entry point in a subprocess."""

    def run(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None,
            timeout: float = 120) -> subprocess.CompletedProcess[str]:
        full_env = {**os.environ, **(env or {})}
        return subprocess.run([_honed_executable(), *args], capture_output=True, text=True,
                              cwd=cwd, env=full_env, timeout=timeout)

    return run


# A prepared MLflow store: creating one costs seconds, so each test copies a ready one.
@pytest.fixture(scope="session")
def mlflow_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One empty MLflow SQLite store per session."""
    from honed.tracking.mlflow import init_store

    path = tmp_path_factory.getbasetemp() / "mlflow-template" / "mlflow.db"
    if not path.exists():
        init_store(path)
    return path


@pytest.fixture
def mlflow_home(mlflow_template: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """$HONED_HOME holding a copy of the prepared store."""
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    home = Path(os.environ["HONED_HOME"])
    home.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(mlflow_template, home / "mlflow.db")
    return home
