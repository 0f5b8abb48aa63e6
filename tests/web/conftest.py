"""Fixtures of the dashboard tests: a home with real optimization runs of the sample task, the
prompt registry they published to, a production log with requests, feedback and keys; the app
(in process, or a real uvicorn server on loopback); headless Chromium."""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from fastapi.testclient import TestClient

from honed.store import open_store
from honed.web.app import create_app
from honed.web.sample import fill_log, run_sample, write_task
from honed.web.sample_runtime import fill_alarms, fill_experiments, fill_loop

CHROMIUM = Path(os.environ.get("HONED_CHROMIUM", "/usr/bin/chromium"))


@dataclass(frozen=True)
class Home:
    root: Path  # the folder with the task
    home: Path  # HONED_HOME
    runs: tuple[str, ...]  # run ids, oldest first
    keys: dict[str, str]  # scope -> plaintext


def in_thread(coroutine: Any) -> Any:
    """Run a coroutine to its end in a thread of its own (Playwright's sync API may hold an
    event loop in this one)."""
    out: dict[str, Any] = {}
    worker = threading.Thread(target=lambda: out.update(result=asyncio.run(coroutine)))
    worker.start()
    worker.join()
    return out["result"]


def build_home(root: Path) -> Home:
    """Two published runs of the sample task (different seeds and optimizers) and a log with
    experiments, drift alarms and a loop's cycles."""
    task, home = write_task(root), root / "home"
    first = in_thread(run_sample(task, home=home, max_calls=150, publish=True))
    second = in_thread(run_sample(task, home=home, max_calls=120, seed=1, optimizer="mutate",
                                  publish=True))
    with open_store(home=home) as store:
        fill_log(store, 240, days=3.0, feedback_every=4)
        fill_experiments(store, 12, traffic=160)
        fill_alarms(store, 30, prompts=("sentiment", "sentiment-b"))
        fill_loop(store, "sentiment", 12)
        keys = {scope: store.create_key(scope, f"test-{scope}")[1]
                for scope in ("admin", "serve")}
    return Home(root, home, (first["run_id"], second["run_id"]), keys)


@pytest.fixture(scope="session")
def prepared(tmp_path_factory: pytest.TempPathFactory) -> Home:
    """Built once per session (a few seconds); tests that change it get a copy."""
    return build_home(tmp_path_factory.mktemp("web-home"))


@pytest.fixture
def sample_home(prepared: Home, tmp_path: Path) -> Home:
    """A copy of the prepared home of this test's own (promote and rollback change it)."""
    root = tmp_path / "site"
    shutil.copytree(prepared.root, root)
    return Home(root, root / "home", prepared.runs, prepared.keys)


@pytest.fixture
def client(sample_home: Home) -> Iterator[TestClient]:
    app = create_app(sample_home.home, poll_s=0.05)
    with TestClient(app, base_url="http://127.0.0.1") as http:
        yield http


class Server:
    """A real uvicorn server on a free loopback port, in a thread."""

    def __init__(self, app: Any) -> None:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = int(probe.getsockname()[1])
        self.url = f"http://127.0.0.1:{self.port}"
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port,
                                                    log_level="warning", lifespan="on",
                                                    timeout_graceful_shutdown=1))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> Server:
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            assert self.thread.is_alive() and time.monotonic() < deadline, "no server"
            time.sleep(0.02)
        return self

    def __exit__(self, *_: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


@pytest.fixture
def serve() -> type[Server]:
    """Start a real server for an app: ``with serve(app) as server: server.url``."""
    return Server


@pytest.fixture
def live_server(sample_home: Home) -> Iterator[Server]:
    with Server(create_app(sample_home.home, poll_s=0.1)) as server:
        yield server


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    """Headless Chromium (Debian's), driven by Playwright, for one test module (Playwright's
    sync API holds an event loop in this thread while it runs). Absent: a failure on CI (the
    env var CI is set), a skip elsewhere."""
    if not CHROMIUM.exists():
        message = (f"Chromium is not at {CHROMIUM}: install Debian's chromium package (or set "
                   "HONED_CHROMIUM to a Chromium binary) to run the browser tests")
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True)
        try:
            yield browser
        finally:
            browser.close()
