"""A prepared MLflow store: creating one costs seconds, so each test copies a ready one."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def mlflow_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One empty MLflow SQLite store per session (shared with tests/lifecycle and tests/cli)."""
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
