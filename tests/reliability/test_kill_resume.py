"""kill -9 at ten points of a real ``honed optimize``, then ``--resume``: the same result as an
uninterrupted run, for at most 10% more real model calls.

The task runs against ``honed.providers.fake_server`` (an OpenAI-compatible endpoint on
127.0.0.1 whose answers depend on the whole prompt, so candidates score differently). Each
scenario has its own ``$HONED_HOME`` and its own API key, so the one server counts every
scenario's real calls apart (by the ``Authorization`` header), the killed attempt's and the
resume's together. A scenario's kill point is a number of rows in the run store (the run, its
evaluations and its trajectory steps), polled from another connection while the process runs and
spread evenly from "the run exists" to "every search row is in" (the final test evaluation); half
of them wait a seeded 2-50 ms more, so the kill lands inside an evaluation, with calls in flight
and answers not yet checkpointed.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import pytest

from honed.providers.fake_server import FakeServer
from honed.testing import record_figures as record

KILLS = 10
SEED, MAX_CALLS, LATENCY_S = 3, 150, 0.01
SPLITS = {"train": (24, 0), "val": (10, 100), "test": (8, 200)}  # size, offset
CALLS_SLACK = 1.10
POLL_S = 0.004
WORDS = {"positive": ("love", "great", "perfect", "happy", "superb", "delight"),
         "negative": ("awful", "broke", "waste", "terrible", "refund", "hate"),
         "neutral": ("blue", "monday", "box", "arrived", "meeting", "paper")}
# what a run's result must keep across a kill: the best prompt, every score, the test diff
SAME = ("seed", "best", "test_diff", "pareto_front", "stopped", "splits", "candidates")
# the rollout ledger, which a resume replays (real calls, tokens and cost are this process's own)
COUNTERS = ("rollouts", "charged_tokens")



# the task ---------------------------------------------------------------------------------------
def rows(n: int, offset: int) -> list[dict[str, str]]:
    labels = list(WORDS)
    out = []
    for i in range(n):
        label = labels[(i + offset) % 3]
        word = WORDS[label][(i * 7 + offset) % 6]
        out.append({"text": f"item {offset}-{i}: {word} thing number {i}", "label": label})
    return out


def replier(labels: dict[str, str]) -> Callable[[list[dict[str, Any]]], str]:
    """A model that is right more often when the prompt names labels or shows demos, and
    otherwise right or wrong by a hash of the whole prompt: deterministic, prompt-sensitive."""

    def reply(messages: list[dict[str, Any]]) -> str:
        user, prompt = str(messages[-1]["content"]), json.dumps(messages)
        label = next((v for text, v in labels.items() if text in user), "neutral")
        chance = 35 + 15 * prompt.count("positive") + 10 * min(len(messages) - 2, 4)
        draw = int(hashlib.sha256(prompt.encode()).hexdigest()[:8], 16) % 100
        return label if draw < min(chance, 95) else "neutral"

    return reply


def write_task(folder: Path, url: str) -> Path:
    data = folder / "data"
    data.mkdir(parents=True, exist_ok=True)
    for name, (size, offset) in SPLITS.items():
        lines = [json.dumps(r) + "\n" for r in rows(size, offset)]
        (data / f"{name}.jsonl").write_text("".join(lines))
    path = folder / "task.yaml"
    path.write_text(
        f"name: kr\nmodel:\n  spec: openai:fake-model\n  base_url: {url}\ntracking: none\n"
        "pricing:\n  openai:fake-model: {input_per_mtok: 1.0, output_per_mtok: 4.0}\n"
        "prompt:\n  system: Classify the review.\n  user: '{text}'\n"
        "data:\n  train: data/train.jsonl\n  val: data/val.jsonl\n  test: data/test.jsonl\n"
        "evals:\n  - type: exact_match\n    expected: '{label}'\n", encoding="utf-8")
    return path


# running honed ----------------------------------------------------------------------------------
def honed() -> str:
    found = Path(sys.executable).with_name("honed")
    return str(found) if found.exists() else "honed"


@dataclass
class Scenario:
    name: str
    task: Path
    home: Path
    key: str

    def env(self) -> dict[str, str]:
        return {**os.environ, "HONED_HOME": str(self.home), "OPENAI_API_KEY": self.key,
                "HONED_FORBID_NETWORK": "1"}

    def start(self, *args: str) -> subprocess.Popen[str]:
        return subprocess.Popen([honed(), "optimize", str(self.task), *args, "--json"],
                                env=self.env(), stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)


def fresh_run(s: Scenario) -> subprocess.Popen[str]:
    return s.start("--max-calls", str(MAX_CALLS), "--seed", str(SEED))


class Rows:
    """Counts a run store's rows (the run, its evaluations, its steps) from its own connection."""

    def __init__(self, path: Path) -> None:
        self.path, self._db = path, None

    def __call__(self) -> int:
        if self._db is None and self.path.exists():
            self._db = sqlite3.connect(self.path, timeout=5)
        if self._db is None:
            return 0
        try:
            return sum(self._db.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
                       for table in ("runs", "evaluations", "steps"))
        except sqlite3.Error:  # the tables are not created yet
            return 0

    def close(self) -> None:
        if self._db is not None:
            self._db.close()


def progress(path: Path) -> int:
    rows = Rows(path)
    try:
        return rows()
    finally:
        rows.close()


def kill_at(s: Scenario, rows_wanted: int, delay_s: float) -> dict[str, Any]:
    """Start a fresh run; SIGKILL it ``delay_s`` after ``rows_wanted`` rows are in its store
    (no delay: just after a checkpoint; a delay: in the middle of the next evaluation)."""
    proc, rows = fresh_run(s), Rows(s.home / "runs.sqlite")
    end, seen = time.monotonic() + 60, 0
    while proc.poll() is None and time.monotonic() < end:
        seen = rows()
        if seen >= rows_wanted:
            time.sleep(delay_s)
            proc.send_signal(signal.SIGKILL)
            break
        time.sleep(POLL_S)
    rows.close()
    proc.communicate(timeout=30)
    return {"rows_at_kill": seen, "killed": proc.returncode == -signal.SIGKILL}


def finish(proc: subprocess.Popen[str]) -> tuple[int, dict[str, Any] | None, str]:
    out, err = proc.communicate(timeout=120)
    return proc.returncode, json.loads(out) if proc.returncode == 0 and out else None, err


def resume(s: Scenario, tries: int = 3) -> tuple[dict[str, Any] | None, int, str]:
    """``honed optimize TASK --resume`` until it finishes; (result, resumes, last stderr)."""
    err = ""
    for attempt in range(1, tries + 1):
        code, result, err = finish(s.start("--resume"))
        if result is not None:
            return result, attempt, err
        if code == 2 and "no unfinished" in err:  # the kill came after the run finished
            return finished_result(s), attempt, err
    return None, tries, err


def finished_result(s: Scenario) -> dict[str, Any] | None:
    db = sqlite3.connect(s.home / "runs.sqlite")
    try:
        row = db.execute("SELECT result FROM runs WHERE status='finished'").fetchone()
    finally:
        db.close()
    return json.loads(row[0]) if row else None


def calls_by(server: FakeServer, key: str) -> int:
    return sum(1 for h in server.headers if h.get("authorization") == f"Bearer {key}")


def differences(a: dict[str, Any], b: dict[str, Any], fields: tuple[str, ...]) -> dict[str, Any]:
    return {f: {"uninterrupted": a.get(f), "resumed": b.get(f)} for f in fields
            if a.get(f) != b.get(f)}


# the test ---------------------------------------------------------------------------------------
@dataclass
class Outcome:
    rows_wanted: int
    delay_ms: int
    rows_at_kill: int
    killed: bool
    resumes: int
    calls: int
    same_result: bool
    result_diff: dict[str, Any]
    counter_diff: dict[str, Any]
    intact: bool


def scenario(server: FakeServer, task: Path, root: Path, i: int, rows_wanted: int,
             reference: dict[str, Any]) -> Outcome:
    s = Scenario(f"kill-{i}", task, root / f"home-{i}", f"sk-kill-{i}")
    # even points but the last (the final test evaluation, short) wait inside an evaluation
    inside = i % 2 == 0 and i < KILLS - 1
    delay_s = random.Random(SEED * 100 + i).uniform(0.002, 0.05) if inside else 0.0
    kill = kill_at(s, rows_wanted, delay_s)
    result, resumes, err = resume(s)
    assert result is not None, f"{s.name}: --resume did not finish: {err[-2000:]}"
    diff = differences(reference, result, SAME)
    return Outcome(rows_wanted, round(delay_s * 1000), kill["rows_at_kill"], kill["killed"],
                   resumes, calls_by(server, s.key), not diff, diff,
                   differences(reference, result, COUNTERS), intact(s.home))


def intact(home: Path) -> bool:
    """Do the run store and the cache pass SQLite's integrity check after the kill?"""
    for name in ("runs.sqlite", "cache.sqlite"):
        db = sqlite3.connect(home / name)
        try:
            if db.execute("PRAGMA integrity_check").fetchone()[0] != "ok":
                return False
        finally:
            db.close()
    return True


@pytest.fixture(scope="module")
def kills(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """An uninterrupted run and ten killed-and-resumed ones (two at a time); their figures."""
    root, started = tmp_path_factory.mktemp("kill-resume"), time.monotonic()
    labels = {r["text"]: r["label"] for n, o in SPLITS.values() for r in rows(n, o)}
    with FakeServer(reply=replier(labels), latency_s=LATENCY_S) as server:
        task = write_task(root / "task", server.url)
        base = Scenario("uninterrupted", task, root / "home-ref", "sk-reference")
        _, reference, err = finish(fresh_run(base))
        assert reference is not None, err[-2000:]
        total_rows = progress(base.home / "runs.sqlite")
        ref_calls = calls_by(server, base.key)
        points = [1 + round(i * (total_rows - 1) / (KILLS - 1)) for i in range(KILLS)]
        with ThreadPoolExecutor(2) as pool:
            outcomes = list(pool.map(
                lambda ik: scenario(server, task, root, ik[0], ik[1], reference),
                enumerate(points)))
    figures = summarize(outcomes, ref_calls, total_rows, time.monotonic() - started)
    record("kill_resume", figures)
    return figures


def test_kill_9_at_ten_points_then_resume_gives_the_same_result(kills: dict[str, Any]) -> None:
    assert kills["kills_landed"] == KILLS, kills
    assert kills["same_result"] == KILLS, [o for o in kills["scenarios"] if o["result_diff"]]
    assert kills["max_calls_ratio"] <= CALLS_SLACK, kills
    assert kills["intact_stores"] == KILLS, kills


def test_a_resumed_run_reports_the_same_rollout_ledger(kills: dict[str, Any]) -> None:
    assert kills["same_counters"] == KILLS, [o for o in kills["scenarios"] if o["counter_diff"]]


def summarize(outcomes: list[Outcome], ref_calls: int, total_rows: int,
              wall_s: float) -> dict[str, Any]:
    return {
        "kills": len(outcomes), "kills_landed": sum(o.killed for o in outcomes),
        "same_result": sum(o.same_result for o in outcomes),
        "same_counters": sum(not o.counter_diff for o in outcomes),
        "intact_stores": sum(o.intact for o in outcomes),
        "uninterrupted_calls": ref_calls, "run_store_rows": total_rows,
        "max_calls_ratio": round(max(o.calls for o in outcomes) / ref_calls, 3),
        "resumes": sum(o.resumes for o in outcomes), "max_calls": MAX_CALLS,
        "wall_s": round(wall_s, 1), "scenarios": [asdict(o) for o in outcomes],
    }
