"""Canary API keys never appear anywhere honed writes, across the whole workflow.

``tests/tracking/test_secrets.py`` checks one tracked evaluation (in process, and ``honed eval``
through the CLI). This goes through the rest of the real CLI with MLflow tracking on and both keys
set: an evaluation whose judge is an Anthropic model, an optimization (MLflow run, registered
prompt, ``TASK.optimized.yaml``), a registry write, a gate recorded on the registered version, an
optimization whose every call a server refuses with a 401 quoting the key back (its failed run is
checkpointed in the run store and its error printed), and an internal error that writes the
traceback log.
Then every file under ``$HONED_HOME`` (run store, cache, registry, MLflow store and artifacts,
``logs/last-error.txt``), the task folders, and every command's stdout and stderr are searched
for either key.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

from honed.providers.fake_server import FakeServer
from honed.testing import record_figures as record

OPENAI_KEY = "sk-canary-" + uuid.uuid4().hex
ANTHROPIC_KEY = "sk-ant-canary-" + uuid.uuid4().hex
CANARIES = (OPENAI_KEY, ANTHROPIC_KEY)




def reply(messages: list[dict[str, Any]]) -> str:
    """Judge requests get a grade; task requests a label."""
    text = json.dumps(messages)
    if "SCORE" in text:
        return "SCORE: 4\nREASON: a plain label"
    return "positive" if "love" in text or "great" in text else "negative"


def write_task(folder: Path, url: str, tracking: str = "mlflow") -> Path:
    rows = [{"text": f"{w} number {i}", "label": "positive" if w in ("love", "great")
             else "negative"} for i in range(6) for w in ("love", "great", "awful", "broke")]
    (folder / "data").mkdir(parents=True, exist_ok=True)
    for split, part in (("train", rows[:12]), ("val", rows[12:18]), ("test", rows[18:])):
        (folder / "data" / f"{split}.jsonl").write_text(
            "".join(json.dumps(r) + "\n" for r in part), encoding="utf-8")
    path = folder / "task.yaml"
    path.write_text(
        f"name: canary\nmodel:\n  spec: openai:fake-model\n  base_url: {url}\n"
        f"tracking: {tracking}\n"
        "prompt:\n  system: Classify the sentiment.\n  user: '{text}'\n"
        "data:\n  train: data/train.jsonl\n  val: data/val.jsonl\n  test: data/test.jsonl\n"
        "evals:\n  - type: exact_match\n    expected: '{label}'\n"
        "  - type: llm_judge\n    rubric: The answer is one sentiment label.\n"
        "    model: anthropic:claude-fake\n    weight: 0.5\n", encoding="utf-8")
    return path


class Session:
    """Runs the real ``honed`` with both canary keys set and keeps every output."""

    def __init__(self, home: Path, anthropic_url: str) -> None:
        self.home, self.outputs = home, []
        self.env = {**os.environ, "HONED_HOME": str(home), "HONED_FORBID_NETWORK": "1",
                    "OPENAI_API_KEY": OPENAI_KEY, "ANTHROPIC_API_KEY": ANTHROPIC_KEY,
                    "ANTHROPIC_BASE_URL": anthropic_url}
        self.env.pop("MLFLOW_TRACKING_URI", None)
        self.outputs: list[tuple[str, str]] = []

    def __call__(self, *args: str, expect: int = 0) -> subprocess.CompletedProcess[str]:
        exe = Path(sys.executable).with_name("honed")
        done = subprocess.run([str(exe) if exe.exists() else "honed", *args], env=self.env,
                              capture_output=True, text=True, timeout=180)
        label = " ".join(args[:2])
        self.outputs += [(f"stdout of honed {label}", done.stdout),
                         (f"stderr of honed {label}", done.stderr)]
        assert done.returncode == expect, (args, done.returncode, done.stderr[-1500:])
        return done


def leaks(folders: list[Path], outputs: list[tuple[str, str]]) -> tuple[list[str], int, int]:
    """Where a canary appears; how many files and bytes were searched."""
    found, files, size = [], 0, 0
    for folder in folders:
        for path in (p for p in folder.rglob("*") if p.is_file()):
            data = path.read_bytes()
            files, size = files + 1, size + len(data)
            found += [f"{path} ({key[:12]}...)" for key in CANARIES if key.encode() in data]
    found += [f"{where} ({key[:12]}...)" for where, text in outputs for key in CANARIES
              if key in text]
    return found, files, size


def workflow(run: Session, task: Path, refused: Path, blocked: Path) -> None:
    run("eval", str(task), "--json")
    optimized = json.loads(run("optimize", str(task), "--max-calls", "90", "--json").stdout)
    run("registry", "promote", "canary", str(optimized["registered"]["version"]), "--force")
    run("gate", str(task), "--min-score", "0", "--json")
    # every call answered 401 quoting the key; the failed run is checkpointed in the run store
    run("optimize", str(refused), "--max-calls", "60", "--json", expect=1)
    run("eval", str(blocked), "--json", expect=1)  # an internal error: logs/last-error.txt


def test_canary_keys_never_reach_any_file_or_output(tmp_path: Path,
                                                   mlflow_template: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    shutil.copyfile(mlflow_template, home / "mlflow.db")
    with FakeServer(reply) as server, FakeServer(fail_plan=[401] * 500) as refusing:
        task = write_task(tmp_path / "task", server.url)
        refused = write_task(tmp_path / "refused", refusing.url)
        blocked = write_task(tmp_path / "blocked", "http://10.255.255.1/v1", tracking="none")
        run = Session(home, server.root)
        workflow(run, task, refused, blocked)
        used = json.dumps(server.headers + refusing.headers)
    assert OPENAI_KEY in used and ANTHROPIC_KEY in used, "both keys were really sent"
    assert (home / "logs" / "last-error.txt").exists()
    assert (tmp_path / "task" / "task.optimized.yaml").exists()
    found, files, size = leaks([home, tmp_path / "task", tmp_path / "refused",
                                tmp_path / "blocked"], run.outputs)
    record("canary", {"commands": len(run.outputs) // 2, "files_searched": files,
                      "bytes_searched": size, "outputs_searched": len(run.outputs),
                      "keys": 2, "leaks": len(found)})
    assert found == []
