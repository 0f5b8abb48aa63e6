"""The walkthrough of docs/serve.md end to end, through the real entry points: optimize, promote,
create keys, run ``honed serve`` as a process, call it with the OpenAI SDK, send feedback, read
the log and harvest it back into a dataset."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from honed.cli.app import main
from honed.client import Client

ROWS = {
    "train": [{"text": "I love it", "label": "positive"},
              {"text": "terrible service", "label": "negative"},
              {"text": "it is blue", "label": "neutral"},
              {"text": "great value", "label": "positive"}],
    "val": [{"text": "works perfectly", "label": "positive"},
            {"text": "broke after a day", "label": "negative"},
            {"text": "arrives on monday", "label": "neutral"}],
    "test": [{"text": "so happy with this", "label": "positive"},
             {"text": "waste of money", "label": "negative"},
             {"text": "it is round", "label": "neutral"}],
}

TASK = ("name: support-intent\n"
        "model: fake\n"
        "tracking: none\n"
        "prompt:\n  system: Classify.\n  user: '{text}'\n"
        "data:\n  train: data/train.jsonl\n  val: data/val.jsonl\n  test: data/test.jsonl\n"
        "evals:\n  - type: exact_match\n    expected: '{label}'\n")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    """``honed ARGV`` in-process; its stdout (the exit status must be 0)."""
    capsys.readouterr()
    code = main(list(argv))
    out, err = capsys.readouterr()
    assert code == 0, f"honed {' '.join(argv)} exited {code}\n{out}\n{err}"
    return out


def _wait_healthy(url: str, server: subprocess.Popen[Any], log: Path,
                  timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while True:
        assert server.poll() is None, (
            f"honed serve exited before it was healthy:\n{log.read_text(encoding='utf-8')}")
        try:
            with urllib.request.urlopen(f"{url}/healthz", timeout=1) as reply:
                if reply.status == 200:
                    return
        except OSError:
            pass
        assert time.monotonic() < deadline, (
            f"honed serve did not become healthy:\n{log.read_text(encoding='utf-8')}")
        time.sleep(0.1)


def test_the_documented_walkthrough(make_task: Callable[..., Path], tmp_path: Path,
                                    capsys: pytest.CaptureFixture[str],
                                    monkeypatch: pytest.MonkeyPatch) -> None:
    task = make_task(TASK)
    for split, rows in ROWS.items():  # distinct splits: the leakage check must pass
        (tmp_path / "data" / f"{split}.jsonl").write_text(
            "".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    home = Path(os.environ["HONED_HOME"])

    # 1. optimize: the best prompt is registered as NAME@candidate
    report = json.loads(_run(capsys, "optimize", str(task), "--max-calls", "60", "--json"))
    registered = report["registered"]
    assert registered["name"] == "support-intent" and registered["alias"] == "candidate"
    version = str(registered["version"])

    # 2. promote it to production
    assert "production" in _run(capsys, "registry", "promote", "support-intent", version)

    # 3. keys: the plaintext is the last line
    key = _run(capsys, "keys", "create", "--scope", "serve", "--name", "app"
               ).strip().splitlines()[-1]
    feedback_key = _run(capsys, "keys", "create", "--scope", "feedback", "--name", "app"
                        ).strip().splitlines()[-1]
    assert key and feedback_key and key != feedback_key
    assert key not in _run(capsys, "keys", "list")

    # 4. honed serve, for real
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    server_log = (tmp_path / "serve.log").open("w", encoding="utf-8")
    server = subprocess.Popen(
        [sys.executable, "-m", "honed", "serve", "--port", str(port),
         "--model", "fake:answer=positive"],
        env={**os.environ, "HONED_HOME": str(home)}, cwd=tmp_path,
        stdout=server_log, stderr=subprocess.STDOUT)
    try:
        _wait_healthy(url, server, tmp_path / "serve.log")

        # 5. the OpenAI SDK, unchanged but for the base URL and the model name
        from openai import OpenAI

        sdk = OpenAI(base_url=f"{url}/v1", api_key=key, max_retries=0)
        reply = sdk.chat.completions.create(
            model="honed:support-intent@production",
            messages=[{"role": "user", "content": "My card never arrived"}])
        # The version recorded the model it was evaluated with (``fake``, which echoes the
        # last user message); that wins over ``--model``.
        assert reply.choices[0].message.content == "My card never arrived"
        assert reply.model == "honed:support-intent@production"
        assert reply.id

        # 6. feedback, with the feedback-scoped key
        with Client(url, feedback_key) as api:
            assert api.feedback(reply.id, label="card_arrival")["request_id"] == reply.id
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(timeout=10)
        server_log.close()

    # 7. the log shows the request with its feedback
    log = json.loads(_run(capsys, "log", "--prompt", "support-intent", "--with-feedback",
                          "--json"))
    [row] = log["requests"]
    assert row["id"] == reply.id
    assert row["prompt"] == "support-intent" and str(row["version"]) == version
    assert row["alias"] == "production"
    assert row["inputs"] == {"text": "My card never arrived"}
    assert row["output"] == "My card never arrived" and row["error"] is None
    assert [f["label"] for f in row["feedback"]] == ["card_arrival"]

    # 8. harvest: the label becomes the target
    out = tmp_path / "data" / "harvested.jsonl"
    _run(capsys, "harvest", "support-intent", "-o", str(out))
    harvested = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert harvested == [{"text": "My card never arrived", "label": "card_arrival"}]
