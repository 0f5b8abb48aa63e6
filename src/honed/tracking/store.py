"""honed's run store: SQLite under ``$HONED_HOME`` with ordered, named migrations.

It keeps runs, candidates (canonical JSON, content-hash ids), evaluations (per-example results)
and trajectory steps. It is the source of truth for ``--resume``; nothing is pickled.
"""

from __future__ import annotations

import json
import sqlite3
import time
import uuid
from dataclasses import dataclass, replace
from typing import Any

from honed.tracking.sqlite import MigratedStore
from honed.types import Candidate, canonical_json

MIGRATIONS: tuple[tuple[str, str], ...] = (
    ("0001_runs", """
        CREATE TABLE runs (
            id TEXT PRIMARY KEY, kind TEXT NOT NULL, task TEXT NOT NULL, task_path TEXT,
            optimizer TEXT, status TEXT NOT NULL, config TEXT NOT NULL, result TEXT,
            created REAL NOT NULL, updated REAL NOT NULL);
        CREATE INDEX runs_task ON runs(task, created);
    """),
    ("0002_candidates", """
        CREATE TABLE candidates (
            run_id TEXT NOT NULL, id TEXT NOT NULL, body TEXT NOT NULL, parent TEXT,
            origin TEXT NOT NULL DEFAULT '', created REAL NOT NULL,
            PRIMARY KEY (run_id, id));
    """),
    ("0003_evaluations", """
        CREATE TABLE evaluations (
            run_id TEXT NOT NULL, key TEXT NOT NULL, candidate_id TEXT NOT NULL,
            split TEXT NOT NULL, n INTEGER NOT NULL, score REAL NOT NULL, summary TEXT NOT NULL,
            results TEXT NOT NULL, rollouts INTEGER NOT NULL, created REAL NOT NULL,
            PRIMARY KEY (run_id, key));
    """),
    ("0004_steps", """
        CREATE TABLE steps (
            run_id TEXT NOT NULL, seq INTEGER NOT NULL, iteration INTEGER NOT NULL,
            phase TEXT NOT NULL, candidate_id TEXT NOT NULL, split TEXT NOT NULL,
            score REAL NOT NULL, n INTEGER NOT NULL, accepted INTEGER NOT NULL,
            best_so_far REAL NOT NULL, rollouts INTEGER NOT NULL, cost_usd REAL NOT NULL,
            note TEXT NOT NULL DEFAULT '', created REAL NOT NULL,
            PRIMARY KEY (run_id, seq));
    """),
)


@dataclass(frozen=True)
class RunRow:
    id: str
    kind: str
    task: str
    task_path: str | None
    optimizer: str | None
    status: str
    config: dict[str, Any]
    result: dict[str, Any] | None
    created: float
    updated: float


def new_run_id() -> str:
    return time.strftime("%Y%m%d-%H%M%S") + "-" + uuid.uuid4().hex[:6]


class RunStore(MigratedStore):
    MIGRATIONS = MIGRATIONS


    # runs ---------------------------------------------------------------------------------
    def create_run(self, run_id: str, *, kind: str, task: str, task_path: str | None,
                   optimizer: str | None, config: dict[str, Any]) -> None:
        now = time.time()
        with self._tx() as db:
            db.execute("INSERT INTO runs VALUES (?,?,?,?,?,?,?,?,?,?)",
                       (run_id, kind, task, task_path, optimizer, "running",
                        canonical_json(config), None, now, now))

    def finish_run(self, run_id: str, status: str, result: dict[str, Any] | None) -> None:
        with self._tx() as db:
            db.execute("UPDATE runs SET status=?, result=?, updated=? WHERE id=?",
                       (status, canonical_json(result) if result is not None else None,
                        time.time(), run_id))

    def touch(self, run_id: str, status: str = "running") -> None:
        with self._tx() as db:
            db.execute("UPDATE runs SET status=?, updated=? WHERE id=?",
                       (status, time.time(), run_id))

    def run(self, run_id: str) -> RunRow | None:
        row = self._db.execute("SELECT * FROM runs WHERE id=?", (run_id,)).fetchone()
        return self._live(_run_row(row)) if row else None

    def runs(self, task: str | None = None, limit: int = 50) -> list[RunRow]:
        sql, args = "SELECT * FROM runs", ()
        if task is not None:
            sql, args = sql + " WHERE task=?", (task,)
        rows = self._db.execute(sql + " ORDER BY created DESC LIMIT ?", (*args, limit))
        return [self._live(_run_row(r)) for r in rows]

    def latest_unfinished(self, task: str, kind: str = "optimize") -> RunRow | None:
        row = self._db.execute(
            "SELECT * FROM runs WHERE task=? AND kind=? AND status IN "
            "('running', 'interrupted', 'failed') ORDER BY created DESC LIMIT 1",
            (task, kind)).fetchone()
        return _run_row(row) if row else None

    # candidates, evaluations, steps -------------------------------------------------------
    def add_candidate(self, run_id: str, candidate: Candidate, *, parent: str | None = None,
                      origin: str = "") -> None:
        with self._tx() as db:
            db.execute("INSERT OR IGNORE INTO candidates VALUES (?,?,?,?,?,?)",
                       (run_id, candidate.id, canonical_json(candidate.to_dict()), parent,
                        origin, time.time()))

    def candidate(self, run_id: str, candidate_id: str) -> Candidate | None:
        row = self._db.execute("SELECT body FROM candidates WHERE run_id=? AND id=?",
                               (run_id, candidate_id)).fetchone()
        return Candidate.from_dict(json.loads(row[0])) if row else None

    def candidates(self, run_id: str) -> list[dict[str, Any]]:
        rows = self._db.execute("SELECT id, body, parent, origin FROM candidates WHERE run_id=?"
                                " ORDER BY created, id", (run_id,))
        return [{"id": r[0], **json.loads(r[1]), "parent": r[2], "origin": r[3]} for r in rows]

    def save_evaluation(self, run_id: str, key: str, *, candidate_id: str, split: str,
                        n: int, score: float, summary: dict[str, Any],
                        results: list[dict[str, Any]], rollouts: int) -> None:
        with self._tx() as db:
            db.execute("INSERT OR REPLACE INTO evaluations VALUES (?,?,?,?,?,?,?,?,?,?)",
                       (run_id, key, candidate_id, split, n, score, canonical_json(summary),
                        canonical_json(results), rollouts, time.time()))

    def evaluation(self, run_id: str, key: str) -> dict[str, Any] | None:
        row = self._db.execute("SELECT * FROM evaluations WHERE run_id=? AND key=?",
                               (run_id, key)).fetchone()
        if row is None:
            return None
        return {"candidate_id": row["candidate_id"], "split": row["split"], "n": row["n"],
                "score": row["score"], "summary": json.loads(row["summary"]),
                "results": json.loads(row["results"]), "rollouts": row["rollouts"]}

    def add_step(self, run_id: str, seq: int, **step: Any) -> None:
        with self._tx() as db:
            db.execute("INSERT OR REPLACE INTO steps VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                       (run_id, seq, step["iteration"], step["phase"], step["candidate_id"],
                        step["split"], step["score"], step["n"], int(step["accepted"]),
                        step["best_so_far"], step["rollouts"], step["cost_usd"],
                        step.get("note", ""), time.time()))

    def steps(self, run_id: str) -> list[dict[str, Any]]:
        cursor = self._db.execute("SELECT * FROM steps WHERE run_id=? ORDER BY seq", (run_id,))
        names = [d[0] for d in cursor.description]
        return [{k: r[k] for k in names if k not in ("run_id", "created")} for r in cursor]

    # reads for reports and the dashboard ---------------------------------------------------
    def evaluations(self, run_id: str) -> list[dict[str, Any]]:
        """Every checkpointed evaluation of a run, oldest first, with its per-example results
        (the final test evaluation is not checkpointed, so it is not among them)."""
        rows = self._db.execute("SELECT * FROM evaluations WHERE run_id=? ORDER BY created, key",
                                (run_id,))
        return [{"key": r["key"], "candidate_id": r["candidate_id"], "split": r["split"],
                 "n": r["n"], "score": r["score"], "summary": json.loads(r["summary"]),
                 "results": json.loads(r["results"]), "rollouts": r["rollouts"],
                 "created": r["created"]} for r in rows]

    def progress(self, run_id: str) -> tuple[str, float, int] | None:
        """A cheap fingerprint of a run's progress: status, last update, steps recorded (None
        for an unknown run). It changes whenever the run records something."""
        row = self._db.execute(
            "SELECT status, updated, (SELECT COUNT(*) FROM steps WHERE run_id=runs.id) "
            "FROM runs WHERE id=?", (run_id,)).fetchone()
        return (self._live_status(run_id, row[0]), row[1], row[2]) if row else None

    def _live(self, row: RunRow) -> RunRow:
        status = self._live_status(row.id, row.status)
        return row if status == row.status else replace(row, status=status)

    def _live_status(self, run_id: str, status: str) -> str:
        """``running`` only while a process holds the run (``tracking.locks``); a run killed
        with ``kill -9`` left ``running`` in its row and reads as ``interrupted``."""
        if status != "running":
            return status
        from honed.tracking.locks import held

        return status if held(self.path.parent, run_id) else "interrupted"



def _run_row(row: sqlite3.Row) -> RunRow:
    return RunRow(row["id"], row["kind"], row["task"], row["task_path"], row["optimizer"],
                  row["status"], json.loads(row["config"]),
                  json.loads(row["result"]) if row["result"] else None,
                  row["created"], row["updated"])
