"""SQLite plumbing shared by honed's stores: WAL connections, transactions, named migrations."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path


def connect(path: Path) -> sqlite3.Connection:
    """A WAL-mode connection in autocommit mode (transactions are explicit)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(path, timeout=30, isolation_level=None)
    db.row_factory = sqlite3.Row
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    return db


@contextmanager
def transaction(db: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    db.execute("BEGIN IMMEDIATE")
    try:
        yield db
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")


def migrate(db: sqlite3.Connection, migrations: Sequence[tuple[str, str]]) -> None:
    """Apply the ordered, named migrations not applied yet, each exactly once."""
    with transaction(db):
        db.execute("CREATE TABLE IF NOT EXISTS migrations (name TEXT PRIMARY KEY, "
                   "applied REAL NOT NULL)")
        done = {row[0] for row in db.execute("SELECT name FROM migrations")}
        for name, sql in migrations:
            if name in done:
                continue
            for statement in filter(str.strip, sql.split(";")):
                db.execute(statement)
            db.execute("INSERT INTO migrations VALUES (?, ?)", (name, time.time()))


def applied(db: sqlite3.Connection) -> list[str]:
    return [r[0] for r in db.execute("SELECT name FROM migrations ORDER BY name")]


class MigratedStore:
    """A SQLite file opened with ``connect`` and brought up to date with ``MIGRATIONS``."""

    MIGRATIONS: Sequence[tuple[str, str]] = ()

    def __init__(self, path: Path) -> None:
        self.path = path
        self._db = connect(path)
        migrate(self._db, self.MIGRATIONS)

    def _tx(self) -> AbstractContextManager[sqlite3.Connection]:
        return transaction(self._db)

    def applied_migrations(self) -> list[str]:
        return applied(self._db)

    def close(self) -> None:
        self._db.close()
