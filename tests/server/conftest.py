"""Fixtures for the server: a registered prompt, a real SQLite log store, keys per scope, and
the app (model ``fake:answer=positive`` for versions that record no model)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from honed.lifecycle.registries import open_registry
from honed.lifecycle.registry import DEMO_TARGET_TAG
from honed.server import create_app
from honed.store import open_store
from honed.types import Candidate

ROWS = {"d1": {"text": "I love it", "label": "positive"},
        "d2": {"text": "awful", "label": "negative"}}


def register(home: Path) -> None:
    """``sent`` v1 (two variables, demos; @production) and ``echo`` v1 (one variable, model
    ``fake`` recorded in its tags; @production)."""
    registry = open_registry(home, backend="local")
    sent = Candidate({"system": "Classify as {choices}.", "user": "Review: {text}"},
                     ("d1", "d2"))
    version = registry.register("sent", sent, tags={DEMO_TARGET_TAG: "{label}"},
                                demo_rows=ROWS)
    registry.set_alias("sent", "production", version.version)
    echo = registry.register("echo", Candidate({"system": "", "user": "Say: {q}"}),
                             tags={"honed.model": "fake"})
    registry.set_alias("echo", "production", echo.version)


@dataclass
class Served:
    home: Path
    store: Any
    keys: dict[str, str]  # scope -> plaintext

    def auth(self, scope: str = "serve") -> dict[str, str]:
        return {"Authorization": f"Bearer {self.keys[scope]}"}


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    home = tmp_path / "home"
    register(home)
    store = open_store(home=home)
    keys = {scope: store.create_key(scope, f"test-{scope}")[1]
            for scope in ("serve", "feedback", "admin")}
    try:
        yield Served(home, store, keys)
    finally:
        store.close()


@pytest.fixture
def make_app(served: Served) -> Callable[..., Any]:
    def make(**options: Any) -> Any:
        options.setdefault("model_override", "fake:answer=positive")
        return create_app(served.home, served.store, **options)

    return make


@pytest.fixture
def client(make_app: Callable[..., Any]) -> Iterator[TestClient]:
    with TestClient(make_app()) as http:
        yield http
