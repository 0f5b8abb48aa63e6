"""``honed report`` and ``honed ui`` through the real entry point, on a real optimization of the
sample task."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import re
import signal
import socket
import subprocess
import sys
import time
from html.parser import HTMLParser
from pathlib import Path

import pytest

from honed.web.sample import run_sample, write_task


def elements(html: str) -> list[tuple[str, list[tuple[str, str | None]]]]:
    """Every start tag of a document, with its attributes, as a browser's parser sees them."""
    found: list[tuple[str, list[tuple[str, str | None]]]] = []

    class Collect(HTMLParser):
        def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
            found.append((tag, attrs))

    Collect().feed(html)
    return found


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, str]:
    """One published optimization of the sample task (module-wide: it takes a second or two)
    and the HONED_HOME holding it."""
    folder = tmp_path_factory.mktemp("report-cmd")
    home = folder / "home"
    result = asyncio.run(run_sample(write_task(folder / "task"), home=home, max_calls=150,
                                    publish=True))
    return result, str(home)


@pytest.fixture
def run(sample: tuple[dict, str], monkeypatch: pytest.MonkeyPatch) -> dict:
    """The sample run, with this test's HONED_HOME pointing at its home."""
    monkeypatch.setenv("HONED_HOME", sample[1])
    return sample[0]


def test_one_self_contained_file(cli, run, tmp_path) -> None:
    out = tmp_path / "report.html"
    result = cli("report", run["run_id"][:12], "-o", str(out))
    assert result.returncode == 0, result.stderr
    assert f"wrote {out}: run {run['run_id']}" in result.stdout
    html = out.read_text(encoding="utf-8")
    # nothing to load: no element that loads, no URL at all, and a policy that forbids loads
    tags = elements(html)
    assert not [t for t in tags if t[0] in ("img", "iframe", "object", "embed")]
    urls = [value or "" for _, attrs in tags for name, value in attrs
            if name in ("src", "href", "srcset", "action")]
    assert urls == ["data:,"]  # the empty icon, so a browser asks for no favicon
    attributes = {name for _, attrs in tags for name, _ in attrs}
    assert not [a for a in attributes if a.startswith("on")]  # no inline event handler
    assert "http://" not in html and "https://" not in html
    (policy,) = [dict(attrs)["content"] for tag, attrs in tags
                 if tag == "meta" and dict(attrs).get("http-equiv") == "Content-Security-Policy"]
    assert "default-src 'none'" in policy
    scripts = re.findall(r"<script>(.*?)</script>", html, flags=re.S)
    assert len(scripts) == 1  # the one executable script, allowed by its hash
    digest = base64.b64encode(hashlib.sha256(scripts[0].encode()).digest()).decode()
    assert f"'sha256-{digest}'" in policy
    # prompts, inputs and outputs with HTML are shown as text
    assert "&lt;script&gt;window.__pwned = 1&lt;/script&gt;" in html
    assert "<script>window.__pwned" not in html and "<img src" not in html
    for view in ("summary", "trajectory", "front", "matrix", "diff", "evals"):
        assert f'id="{view}"' in html
    assert "<svg" in html


def test_json_summary(cli, run, tmp_path) -> None:
    out = tmp_path / "r.html"
    result = cli("report", "latest", "-o", str(out), "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["kind"] == "run" and data["output"] == str(out) and out.exists()
    report = data["report"]
    assert report["run"]["id"] == run["run_id"]
    assert report["best"]["test"]["score"] == run["best"]["test"]["score"]
    assert report["registered"]["version"] == run["registered"]["version"]


def test_compare_runs_and_registry_versions(cli, run, tmp_path) -> None:
    out = tmp_path / "compare.html"
    result = cli("report", "latest", "sentiment@candidate", "sentiment/1", "-o", str(out))
    assert result.returncode == 0, result.stderr
    assert "vs sentiment@candidate (v" in result.stdout and "vs sentiment/1" in result.stdout
    html = out.read_text(encoding="utf-8")
    assert "Compare 3 prompts" in html and 'id="matrix"' in html
    by_ref = cli("report", "sentiment@candidate", "-o", str(tmp_path / "v.html"), "--json")
    assert json.loads(by_ref.stdout)["report"]["run"]["id"] == run["run_id"]


@pytest.mark.parametrize(("args", "message"), [
    (["nope"], "no run 'nope'"),
    (["sentiment/1"], "not registered by an optimization run"),
    (["latest", "sentiment/9"], "no version 9"),
    (["latest", "-o", "/no/such/folder/r.html"], "does not exist"),
])
def test_bad_input_exits_2(cli, run, args, message) -> None:
    result = cli("report", *args)
    assert result.returncode == 2 and message in result.stderr, result.stderr
    assert "Traceback" not in result.stderr


def test_without_runs_or_arguments(cli) -> None:
    empty = cli("report", "latest")
    assert empty.returncode == 2 and "no run store" in empty.stderr
    assert cli("report").returncode == 2


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_ui_serves_the_dashboard_on_loopback(run) -> None:
    import httpx

    port = _free_port()
    process = subprocess.Popen([str(Path(sys.executable).with_name("honed")), "ui", "--port",
                                str(port)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True)
    try:
        deadline, answer = time.monotonic() + 30, None
        while answer is None and time.monotonic() < deadline:
            try:
                answer = httpx.get(f"http://127.0.0.1:{port}/runs", timeout=2)
            except httpx.TransportError:
                assert process.poll() is None, process.communicate()
                time.sleep(0.1)
        assert answer is not None and answer.status_code == 200
        assert run["run_id"] in answer.text
    finally:
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=20)
    assert f"http://127.0.0.1:{port}" in out and "read-only" in err


def test_ui_on_a_busy_port_exits_2(cli) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        result = cli("ui", "--port", str(busy.getsockname()[1]))
    assert result.returncode == 2 and "--port" in result.stderr
    assert "Traceback" not in result.stderr
