"""``honed serve`` builds the app over the store and hands it to uvicorn on 127.0.0.1."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import uvicorn
from fastapi import FastAPI

from honed.cli.app import main


def test_serve_binds_loopback_by_default(monkeypatch: pytest.MonkeyPatch,
                                         tmp_path: Path) -> None:
    seen: dict[str, Any] = {}

    def run(app: Any, **options: Any) -> None:
        seen.update(options, app=app)

    monkeypatch.setattr(uvicorn, "run", run)
    assert main(["serve", "--model", "fake", "--port", "9999"]) == 0
    assert isinstance(seen["app"], FastAPI)
    assert seen["host"] == "127.0.0.1" and seen["port"] == 9999
    assert seen["app"].state.service.pool.model_override == "fake"
