"""Persistent, content-addressed response cache in SQLite (WAL; safe across processes).

Every answer is written as it arrives (``batch=1``), so a ``kill -9`` loses only the calls still in
flight and ``--resume`` pays for nothing twice; a commit costs about 40 us against 6 us batched,
small beside any model call. A larger ``batch`` buffers writes and flushes them together, on
``close``, whenever the buffer fills and at the end of every evaluation. Each write is one short
``BEGIN IMMEDIATE`` transaction, so processes sharing ``$HONED_HOME`` take turns instead of failing
with "database is locked" (see ``honed.tracking.sqlite``).

The cache only holds copies of answers, so a damaged file is not fatal: found on open, it is moved
aside (``cache.sqlite.corrupt-STAMP``, with its ``-wal``/``-shm``) and an empty cache takes its
place; found later, the cache stops serving and storing for the rest of the run. Either way a
warning ``Message`` goes to ``on_event`` and ``problem`` says what happened; the run goes on.
"""

from __future__ import annotations

import os
import sqlite3
import time
from pathlib import Path

from honed.providers.base import Completion
from honed.tracking.events import Callback, Message
from honed.tracking.sqlite import connect, is_corrupt, move_aside, state_error
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
_COLUMNS = "text, input_tokens, output_tokens, latency_s, cost_usd, finish_reason"


class ResponseCache:
    def __init__(self, path: Path, *, batch: int = 1, on_event: Callback | None = None) -> None:
        self.path, self._batch, self._on_event = path, batch, on_event
        self.problem: str | None = None  # why the cache was reset or switched off, if it was
        self.moved_to: Path | None = None  # where a damaged file went
        self._pending: dict[str, tuple[object, ...]] = {}
        self._db: sqlite3.Connection | None = self._open()

    # opening ------------------------------------------------------------------------------
    def _open(self) -> sqlite3.Connection:
        inode = _inode(self.path)
        try:
            return self._connect()
        except sqlite3.DatabaseError as exc:
            if not is_corrupt(exc):
                raise state_error(self.path, exc) or exc from None
            if _inode(self.path) == inode:  # not already replaced by another process
                self.moved_to = move_aside(self.path)
            self._warn(f"the response cache {self.path} was damaged ({exc}); "
                       f"{self._where()}, and an empty cache replaces it")
        return self._connect()

    def _connect(self) -> sqlite3.Connection:
        db = connect(self.path, guarded=False, threads=True)
        try:
            db.execute(_SCHEMA)
            db.execute("SELECT key FROM responses LIMIT 1").fetchall()
        except BaseException:
            db.close()
            raise
        return db

    def _where(self) -> str:
        return f"it was moved to {self.moved_to}" if self.moved_to else "it was moved aside"

    # use ----------------------------------------------------------------------------------
    def get(self, key: str) -> Completion | None:
        if key in self._pending:
            row = self._pending[key][2:8]
        else:
            found = self._read(key)
            if found is None:
                return None
            row = found
        text, tin, tout, latency, cost, finish = row
        return Completion(str(text), Usage(int(tin), int(tout)), float(latency), float(cost),
                          str(finish), cached=True)

    def _read(self, key: str) -> tuple[object, ...] | None:
        if self._db is None:
            return None
        try:
            found = self._db.execute(f"SELECT {_COLUMNS} FROM responses WHERE key = ?",
                                     (key,)).fetchone()
        except sqlite3.DatabaseError as exc:
            self._switch_off(exc)
            return None
        return tuple(found) if found is not None else None

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
        if self._db is None:
            return
        try:
            with self._db:
                self._db.execute("BEGIN IMMEDIATE")
                self._db.executemany(
                    "INSERT OR REPLACE INTO responses VALUES (?,?,?,?,?,?,?,?,?)", rows)
        except sqlite3.DatabaseError as exc:
            self._switch_off(exc)

    def _switch_off(self, exc: sqlite3.DatabaseError) -> None:
        """Damage found mid-run: stop using the file (the run goes on uncached)."""
        if not is_corrupt(exc):
            raise state_error(self.path, exc) or exc from None
        db, self._db = self._db, None
        if db is not None:
            db.close()
        self._warn(f"the response cache {self.path} is damaged ({exc}); it is switched off "
                   f"for the rest of this run. Move it aside (mv {self.path} {self.path}"
                   f".corrupt) and honed starts an empty one")

    def _warn(self, text: str) -> None:
        self.problem = text
        if self._on_event is not None:
            self._on_event(Message(text, level="warning",
                                   data={"file": str(self.path),
                                         "moved_to": str(self.moved_to or "")}))

    def __len__(self) -> int:
        self.flush()
        if self._db is None:
            return 0
        return int(self._db.execute("SELECT COUNT(*) FROM responses").fetchone()[0])

    def close(self) -> None:
        self.flush()
        if self._db is not None:
            self._db.close()
            self._db = None


def _inode(path: Path) -> int | None:
    try:
        return os.stat(path).st_ino
    except OSError:
        return None
