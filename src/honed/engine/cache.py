"""Persistent, content-addressed response cache in SQLite (WAL; safe across processes).

Writes are buffered and flushed in batches so the event loop is not blocked by a commit per call;
``flush`` runs on ``close`` and whenever the buffer fills.
"""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

from honed.providers.base import Completion
from honed.types import Usage

_SCHEMA = """
CREATE TABLE IF NOT EXISTS responses (
    key TEXT PRIMARY KEY,
    model TEXT NOT NULL,
    text TEXT NOT NULL,
    input_tokens INTEGER NOT NULL,
    output_tokens INTEGER NOT NULL,
    latency_s REAL NOT NULL,
    cost_usd REAL NOT NULL,
    finish_reason TEXT NOT NULL,
    created REAL NOT NULL
)
"""


class ResponseCache:
    def __init__(self, path: Path, *, batch: int = 64) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path, self._batch = path, batch
        self._db = sqlite3.connect(path, timeout=30, check_same_thread=False,
                                   isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute(_SCHEMA)
        self._pending: dict[str, tuple[object, ...]] = {}

    def get(self, key: str) -> Completion | None:
        if key in self._pending:
            row = self._pending[key][2:8]
        else:
            found = self._db.execute(
                "SELECT text, input_tokens, output_tokens, latency_s, cost_usd, finish_reason "
                "FROM responses WHERE key = ?", (key,)).fetchone()
            if found is None:
                return None
            row = found
        text, tin, tout, latency, cost, finish = row
        return Completion(str(text), Usage(int(tin), int(tout)), float(latency), float(cost),
                          str(finish), cached=True)

    def put(self, key: str, model: str, c: Completion) -> None:
        self._pending[key] = (key, model, c.text, c.usage.input_tokens, c.usage.output_tokens,
                              c.latency_s, c.cost_usd, c.finish_reason, time.time())
        if len(self._pending) >= self._batch:
            self.flush()

    def flush(self) -> None:
        if not self._pending:
            return
        rows = list(self._pending.values())
        self._pending.clear()
        with self._db:
            self._db.execute("BEGIN IMMEDIATE")
            self._db.executemany(
                "INSERT OR REPLACE INTO responses VALUES (?,?,?,?,?,?,?,?,?)", rows)

    def __len__(self) -> int:
        self.flush()
        return int(self._db.execute("SELECT COUNT(*) FROM responses").fetchone()[0])

    def close(self) -> None:
        self.flush()
        self._db.close()
