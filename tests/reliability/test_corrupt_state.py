"""A damaged state file under ``$HONED_HOME``: a clear message, a documented recovery, nothing
else lost.

Each case copies a home that a real ``honed optimize`` filled (run store, response cache, local
registry), damages one file in one way (its header overwritten, the file cut short, its schema
page overwritten) and runs the real CLI on it:

- the run store and the registry hold the user's work: exit 2, the message names the file and the
  fix (move it aside with its -wal/-shm), the file is left byte for byte as it was, the other files
  are untouched, no internal-error traceback; following the printed fix makes the command work;
- the response cache only holds copies: honed moves it aside itself (kept, byte for byte, as
  ``cache.sqlite.corrupt-STAMP``), starts an empty one and the evaluation gives the same score.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from honed.testing import record_figures as record

DAMAGES: dict[str, Callable[[Path], None]] = {}
COMMANDS = {  # the command that meets each file first
    "runs.sqlite": ("optimize", "{task}", "--max-calls", "60", "--json"),
    "registry.sqlite": ("registry", "list", "--backend", "local", "--json"),
    "cache.sqlite": ("eval", "{task}", "--json"),
}
CASES = [(f, d) for f in COMMANDS for d in ("header", "truncated", "schema-page")]
FIGURES: dict[str, dict[str, Any]] = {}



# damages ----------------------------------------------------------------------------------------
def damage(name: str) -> Callable[[Callable[[Path], None]], Callable[[Path], None]]:
    def register(fn: Callable[[Path], None]) -> Callable[[Path], None]:
        DAMAGES[name] = fn
        return fn
    return register


@damage("header")
def overwrite_header(path: Path) -> None:
    """The first 100 bytes (the SQLite header) replaced: 'file is not a database'."""
    data = bytearray(path.read_bytes())
    data[:100] = bytes(range(7, 107))
    path.write_bytes(bytes(data))


@damage("truncated")
def cut_short(path: Path) -> None:
    """The file cut to 60% of its size, mid-page, as by a full disk or a partial copy."""
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * 0.6) + 123])


@damage("schema-page")
def overwrite_schema(path: Path) -> None:
    """Page 1 after the header (the table of tables) overwritten: a malformed schema."""
    data = bytearray(path.read_bytes())
    page = int.from_bytes(data[16:18], "big") or 65536
    data[100:page] = b"\xa5" * (page - 100)
    path.write_bytes(bytes(data))


# helpers ----------------------------------------------------------------------------------------
def honed(*args: str, home: Path) -> subprocess.CompletedProcess[str]:
    exe = Path(sys.executable).with_name("honed")
    env = {**os.environ, "HONED_HOME": str(home), "HONED_FORBID_NETWORK": "1"}
    return subprocess.run([str(exe) if exe.exists() else "honed", *args], env=env,
                          capture_output=True, text=True, timeout=120)


def digests(home: Path) -> dict[str, str]:
    return {str(p.relative_to(home)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(home.rglob("*")) if p.is_file()}


def write_task(folder: Path) -> Path:
    labels = ("positive", "negative", "neutral")
    rows = [{"text": f"review {i}", "label": labels[i % 3]} for i in range(40)]
    (folder / "data").mkdir(parents=True)
    for split, part in (("train", rows[:24]), ("val", rows[24:32]), ("test", rows[32:])):
        (folder / "data" / f"{split}.jsonl").write_text(
            "".join(json.dumps(r) + "\n" for r in part), encoding="utf-8")
    path = folder / "task.yaml"
    path.write_text("name: corrupt\nmodel: fake\ntracking: none\n"
                    "prompt:\n  system: Classify.\n  user: '{text}'\n"
                    "data:\n  train: data/train.jsonl\n  val: data/val.jsonl\n"
                    "  test: data/test.jsonl\n"
                    "evals:\n  - type: exact_match\n    expected: '{label}'\n", encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def filled(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, dict[str, Any]]:
    """A task and a home that ``honed optimize`` and ``honed eval`` filled; the eval's result."""
    root = tmp_path_factory.mktemp("corrupt")
    task, home = write_task(root / "task"), root / "home"
    assert honed("optimize", str(task), "--max-calls", "60", "--json", home=home).returncode == 0
    done = honed("eval", str(task), "--json", home=home)
    assert done.returncode == 0, done.stderr
    assert {p.name for p in home.iterdir()} >= set(COMMANDS)
    return task, home, json.loads(done.stdout)


def command(name: str, task: Path) -> list[str]:
    return [a.format(task=task) for a in COMMANDS[name]]


def follow_fix(stderr: str) -> int:
    """Run the `mv A B && mv C D` command the message prints; return how many moves."""
    command = re.search(r"`(mv [^`]+)`", stderr)
    assert command is not None, stderr
    moves = [move.split()[1:] for move in command.group(1).split(" && ")]
    for source, target in moves:
        os.replace(source, target)
    return len(moves)


# the test ---------------------------------------------------------------------------------------
@pytest.mark.parametrize(("name", "kind"), CASES)
def test_a_damaged_state_file_is_named_with_its_fix(
        name: str, kind: str, filled: tuple[Path, Path, dict[str, Any]], tmp_path: Path) -> None:
    task, source, reference = filled
    home = tmp_path / "home"
    shutil.copytree(source, home)
    target = home / name
    DAMAGES[kind](target)
    before = digests(home)
    done = honed(*command(name, task), home=home)
    after = digests(home)
    assert "internal error" not in done.stderr and not (home / "logs").exists(), done.stderr
    if name == "cache.sqlite":
        figures = check_cache_recovery(home, before, after, done, task, reference)
    else:
        figures = check_refusal(home, name, before, after, done, task)
    FIGURES[f"{name}/{kind}"] = figures
    record("corrupt_state", {"cases": len(FIGURES), "results": FIGURES})


def check_refusal(home: Path, name: str, before: dict[str, str], after: dict[str, str],
                  done: subprocess.CompletedProcess[str], task: Path) -> dict[str, Any]:
    target = home / name
    assert done.returncode == 2, (done.returncode, done.stderr)
    assert str(target) in done.stderr and "damaged" in done.stderr, done.stderr
    assert f"`mv {target} {target}.corrupt" in done.stderr, done.stderr
    assert {k: after.get(k) for k in before} == before, "honed changed no file"
    moves = follow_fix(done.stderr)
    again = honed(*command(name, task), home=home)
    assert again.returncode == 0, again.stderr
    kept = hashlib.sha256((home / f"{name}.corrupt").read_bytes()).hexdigest()
    assert kept == before[name], "the damaged file is kept as it was, for salvage"
    return {"exit": done.returncode, "files_changed": 0, "moves_in_fix": moves,
            "exit_after_fix": again.returncode}


def check_cache_recovery(home: Path, before: dict[str, str], after: dict[str, str],
                         done: subprocess.CompletedProcess[str], task: Path,
                         reference: dict[str, Any]) -> dict[str, Any]:
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["score"] == reference["score"]
    aside = [p for p in home.iterdir() if p.name.startswith("cache.sqlite.corrupt-")
             and not p.name.endswith(("-wal", "-shm"))]
    assert len(aside) == 1, sorted(after)
    assert hashlib.sha256(aside[0].read_bytes()).hexdigest() == before["cache.sqlite"]
    others = {k: v for k, v in before.items() if not k.startswith("cache.sqlite")}
    assert {k: after.get(k) for k in others} == others, "the other state files are untouched"
    again = honed("eval", str(task), "--json", home=home)
    assert again.returncode == 0 and json.loads(again.stdout)["calls"] == 0, again.stderr
    return {"exit": done.returncode, "moved_aside": True, "same_score": True,
            "files_changed": 0, "calls_after_recovery": 0}
