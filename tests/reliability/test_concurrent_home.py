"""Several processes sharing one ``$HONED_HOME``: no lost or corrupt rows, no "database is locked".

Two layers. Through the real CLI: two ``honed optimize`` runs with the same seed (so they must
write the same rows), two ``honed eval`` runs and a registry writer, all at once on one home and
one loopback endpoint. Under the stores directly: forked writers hammer the run store, the
response cache and the local registry, starting together on brand-new files (the moment SQLite
refuses to wait: switching a new file to WAL) and then writing many short transactions each.
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
import sqlite3
import subprocess
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from honed.engine.cache import ResponseCache
from honed.lifecycle.registry_local import LocalRegistry
from honed.providers.base import Completion
from honed.providers.fake_server import FakeServer
from honed.testing import record_figures as record
from honed.tracking.store import RunStore
from honed.types import Candidate

WORDS = {"positive": ("love", "great", "perfect"), "negative": ("awful", "broke", "waste"),
         "neutral": ("blue", "monday", "box")}
REGISTRY_WRITES = 40
WRITERS, FRESH_ROUNDS, SUSTAINED_WRITES = 6, 12, 60
STATE_FILES = ("runs.sqlite", "cache.sqlite", "registry.sqlite")




def honed() -> str:
    found = Path(sys.executable).with_name("honed")
    return str(found) if found.exists() else "honed"


def integrity(path: Path) -> str:
    db = sqlite3.connect(path)
    try:
        return str(db.execute("PRAGMA integrity_check").fetchone()[0])
    finally:
        db.close()


# through the CLI --------------------------------------------------------------------------------
def write_data(folder: Path) -> dict[str, str]:
    """Train, val and test files; returns each text's label."""
    labels: dict[str, str] = {}
    (folder / "data").mkdir(parents=True, exist_ok=True)
    for split, (n, offset) in {"train": (24, 0), "val": (10, 100), "test": (8, 200)}.items():
        rows = [{"text": f"{split} {i}: {WORDS[label][i % 3]} item", "label": label}
                for i in range(n) for label in [list(WORDS)[(i + offset) % 3]]]
        labels |= {r["text"]: r["label"] for r in rows}
        (folder / "data" / f"{split}.jsonl").write_text(
            "".join(json.dumps(r) + "\n" for r in rows))
    return labels


def write_task(folder: Path, url: str) -> Path:
    path = folder / "task.yaml"
    path.write_text(
        f"name: shared\nmodel:\n  spec: openai:fake-model\n  base_url: {url}\ntracking: none\n"
        "prompt:\n  system: Classify the review.\n  user: '{text}'\n"
        "data:\n  train: data/train.jsonl\n  val: data/val.jsonl\n  test: data/test.jsonl\n"
        "evals:\n  - type: exact_match\n    expected: '{label}'\n", encoding="utf-8")
    return path


def replier(labels: dict[str, str]) -> Callable[[list[dict[str, Any]]], str]:
    def reply(messages: list[dict[str, Any]]) -> str:
        user, prompt = str(messages[-1]["content"]), json.dumps(messages)
        label = next((v for text, v in labels.items() if text in user), "neutral")
        draw = int(hashlib.sha256(prompt.encode()).hexdigest()[:8], 16) % 100
        return label if draw < 40 + 10 * min(len(messages) - 2, 4) else "neutral"

    return reply


REGISTRY_WRITER = """
import sys
from pathlib import Path
from honed.lifecycle.registry_local import LocalRegistry
from honed.types import Candidate
registry = LocalRegistry(Path(sys.argv[1]))
for i in range(int(sys.argv[2])):
    version = registry.register("stress", Candidate({"system": f"prompt {i}"}))
    registry.set_alias("stress", "production", version.version)
    registry.set_tags("stress", version.version, {"i": str(i)})
registry.close()
"""


def start_all(task: Path, home: Path) -> dict[str, subprocess.Popen[str]]:
    env = {**os.environ, "HONED_HOME": str(home), "OPENAI_API_KEY": "sk-shared",
           "HONED_FORBID_NETWORK": "1"}
    optimize = [honed(), "optimize", str(task), "--max-calls", "140", "--seed", "1", "--json"]
    evaluate = [honed(), "eval", str(task), "--split", "all", "--json"]
    writer = [sys.executable, "-c", REGISTRY_WRITER, str(home / "registry.sqlite"),
              str(REGISTRY_WRITES)]
    commands = {"optimize-a": optimize, "optimize-b": optimize, "eval-a": evaluate,
                "eval-b": evaluate, "registry-writer": writer}
    return {name: subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE, text=True)
            for name, cmd in commands.items()}


def collect(procs: dict[str, subprocess.Popen[str]]) -> dict[str, tuple[int, str, str]]:
    done = {}
    for name, proc in procs.items():
        out, err = proc.communicate(timeout=180)
        done[name] = (proc.returncode, out, err)
    return done


def run_rows(db: sqlite3.Connection, run_id: str) -> dict[str, Any]:
    """A run's rows, minus what legitimately differs between two runs (ids, timestamps)."""
    steps = db.execute("SELECT seq, iteration, phase, candidate_id, split, score, n, accepted, "
                       "best_so_far, rollouts, note FROM steps WHERE run_id=? ORDER BY seq",
                       (run_id,)).fetchall()
    evals = db.execute("SELECT key, candidate_id, split, n, score, results, rollouts "
                       "FROM evaluations WHERE run_id=? ORDER BY key", (run_id,)).fetchall()
    cands = db.execute("SELECT id, body FROM candidates WHERE run_id=? ORDER BY id",
                       (run_id,)).fetchall()
    return {"steps": steps, "candidates": cands,
            "evaluations": [(*row[:5], stable(row[5]), row[6]) for row in evals]}


def stable(results: str) -> list[dict[str, Any]]:
    """Per-example results without what depends on timing (latency, cache hit or miss)."""
    return [{k: v for k, v in r.items() if k not in ("latency_s", "cached")}
            for r in json.loads(results)]


def test_two_optimizations_two_evals_and_a_registry_writer_share_one_home(
        tmp_path: Path) -> None:
    home = tmp_path / "home"
    labels = write_data(tmp_path / "task")
    with FakeServer(replier(labels), latency_s=0.005) as server:
        task = write_task(tmp_path / "task", server.url)
        started = time.monotonic()
        done = collect(start_all(task, home))
        wall = time.monotonic() - started
        bodies = {json.dumps(b, sort_keys=True) for b in server.requests}
    failures = {n: (code, err[-1500:]) for n, (code, _, err) in done.items() if code != 0}
    assert not failures, failures
    assert not [n for n, (_, _, err) in done.items() if "locked" in err or "busy" in err.lower()]
    results = {n: json.loads(out) for n, (_, out, _) in done.items() if n != "registry-writer"}
    assert all(r["warnings"] == [] for r in results.values()), results
    figures = check_home(home, results, len(bodies))
    figures |= {"processes": len(done), "wall_s": round(wall, 1)}
    record("concurrent_home_cli", figures)


def check_home(home: Path, results: dict[str, dict[str, Any]], distinct: int) -> dict[str, Any]:
    a, b = results["optimize-a"], results["optimize-b"]
    same = ("seed", "best", "test_diff", "rollouts", "candidates", "pareto_front")
    assert {k: a[k] for k in same} == {k: b[k] for k in same}
    assert results["eval-a"]["score"] == results["eval-b"]["score"]
    assert {f: integrity(home / f) for f in STATE_FILES} == dict.fromkeys(STATE_FILES, "ok")
    db = sqlite3.connect(home / "runs.sqlite")
    rows_a, rows_b = run_rows(db, a["run_id"]), run_rows(db, b["run_id"])
    statuses = [r[0] for r in db.execute("SELECT status FROM runs WHERE kind='optimize'")]
    db.close()
    assert rows_a == rows_b and rows_a["steps"] and statuses == ["finished", "finished"]
    assert [s[0] for s in rows_a["steps"]] == list(range(1, len(rows_a["steps"]) + 1))
    cache = ResponseCache(home / "cache.sqlite")
    cached = len(cache)
    cache.close()
    assert cached == distinct, "every distinct request the endpoint answered is cached once"
    registry = LocalRegistry(home / "registry.sqlite")
    versions = [v.version for v in registry.versions("stress")]
    shared = {v.version: v.candidate.id for v in registry.versions("shared")}
    registry.close()
    assert versions == list(range(1, REGISTRY_WRITES + 1))
    for result in (a, b):  # each optimization's best prompt is registered as it reported
        assert shared[result["registered"]["version"]] == result["best"]["candidate_id"]
    rows = sum(len(rows_a[t]) + len(rows_b[t]) for t in rows_a) + cached + len(versions)
    return {"concurrent_writers": 5, "rows_checked": rows, "rows_lost": 0,
            "cache_rows": cached, "registry_versions": len(versions), "locked_errors": 0}


# under the stores -------------------------------------------------------------------------------
def write_many(kind: str, path: Path, writer: int, n: int) -> None:
    """One process's writes, each its own short transaction."""
    if kind == "runs":
        store = RunStore(path)
        store.create_run(f"r{writer}", kind="optimize", task="t", task_path=None,
                         optimizer=None, config={})
        for k in range(n):
            store.add_step(f"r{writer}", k, iteration=0, phase="p", candidate_id="c",
                           split="val", score=0.5, n=1, accepted=True, best_so_far=0.5,
                           rollouts=k, cost_usd=0.0)
        store.close()
    elif kind == "cache":
        cache = ResponseCache(path, batch=1)
        for k in range(n):
            cache.put(f"{writer}-{k}", "m", Completion(f"answer {k}"))
        cache.close()
    else:
        registry = LocalRegistry(path)
        for k in range(n):
            registry.register("p", Candidate({"system": f"{writer}-{k}"}))
        registry.close()


def _child(kind: str, path: Path, writer: int, n: int, barrier: Any, errors: Any) -> None:
    try:
        barrier.wait(30)
        write_many(kind, path, writer, n)
    except BaseException:
        errors.put(traceback.format_exc(limit=4))


def hammer(kind: str, path: Path, n: int) -> list[str]:
    """WRITERS forked processes start together on ``path`` and write ``n`` rows each."""
    context = multiprocessing.get_context("fork")
    barrier, errors = context.Barrier(WRITERS), context.Queue()
    procs = [context.Process(target=_child, args=(kind, path, i, n, barrier, errors))
             for i in range(WRITERS)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
    found = []
    while not errors.empty():
        found.append(errors.get())
    return found + [f"writer exited {p.exitcode}" for p in procs if p.exitcode != 0]


def count(kind: str, path: Path) -> int:
    table = {"runs": "steps", "cache": "responses", "registry": "versions"}[kind]
    db = sqlite3.connect(path)
    try:
        return int(db.execute(f"SELECT count(*) FROM {table}").fetchone()[0])
    finally:
        db.close()


def test_forked_writers_on_new_and_busy_files_lose_nothing(tmp_path: Path) -> None:
    figures: dict[str, Any] = {"writers": WRITERS}
    for kind in ("runs", "cache", "registry"):
        errors: list[str] = []
        for r in range(FRESH_ROUNDS):  # brand-new file each round: the WAL switch race
            path = tmp_path / f"{kind}-fresh-{r}.sqlite"
            errors += hammer(kind, path, 3)
            assert count(kind, path) == WRITERS * 3, errors
        path = tmp_path / f"{kind}-sustained.sqlite"
        errors += hammer(kind, path, SUSTAINED_WRITES)
        assert not errors, errors[:3]
        assert count(kind, path) == WRITERS * SUSTAINED_WRITES
        assert integrity(path) == "ok"
        figures[kind] = {"fresh_file_rounds": FRESH_ROUNDS,
                         "rows_written": WRITERS * (3 * FRESH_ROUNDS + SUSTAINED_WRITES),
                         "rows_lost": 0, "errors": 0}
    record("concurrent_home_stores", figures)
