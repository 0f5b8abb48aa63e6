"""SQLite plumbing shared by honed's stores: connections, transactions, named migrations.

**Several processes, one ``$HONED_HOME``.** Two ``honed eval`` runs in CI, an optimization while
``honed registry promote`` runs: every file is in WAL mode, so readers never wait for the writer;
a connection waits up to ``BUSY_TIMEOUT_S`` for a lock (``busy_timeout``); every write is one short
``BEGIN IMMEDIATE`` transaction, which takes the write lock before it reads and so never has to
upgrade a read lock (WAL answers that upgrade SQLITE_BUSY at once, without waiting). The one
statement SQLite refuses without waiting, switching a brand-new file to WAL while another process
does the same, is retried until the same deadline.

**A damaged file.** A file that is not a database, is truncated or is otherwise corrupt raises
``ConfigError`` naming the file and the fix (move it aside with its ``-wal`` and ``-shm``; honed
recreates it empty), when it is opened or at the first query that meets the damage, never an
internal error. A file that cannot be opened or written (permissions, a full disk) says so the same
way. ``move_aside`` is how the response cache, which only holds copies, recovers by itself.
"""

from __future__ import annotations

import os
import random
import sqlite3
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any, TypeVar

from honed.errors import ConfigError

BUSY_TIMEOUT_S = 30.0
_CORRUPT, _CANTOPEN, _READONLY, _FULL, _NOTADB, _BUSY = 11, 14, 8, 13, 26, 5
T = TypeVar("T")


# errors -----------------------------------------------------------------------------------------
def error_code(exc: sqlite3.Error) -> int:
    """The primary SQLite result code of an error (extended codes folded), 0 when unknown."""
    return int(getattr(exc, "sqlite_errorcode", 0) or 0) & 0xFF


def is_corrupt(exc: sqlite3.Error) -> bool:
    """Is this 'file is not a database' or 'database disk image is malformed'?"""
    return error_code(exc) in (_CORRUPT, _NOTADB)


def aside_name(path: Path, suffix: str = ".corrupt") -> Path:
    return path.with_name(path.name + suffix)


def recovery_fix(path: Path, *, closed: bool = True) -> str:
    """How to recover from a damaged state file: move it, with its WAL pair, aside.

    ``closed``: no connection holds the file now, so its ``-wal``/``-shm`` files on disk are
    the ones to move (an open connection has its own, which go away when it closes).
    """
    aside = aside_name(path)
    pair = [ext for ext in ("-wal", "-shm") if Path(f"{path}{ext}").exists()]
    moves = [f"mv {path} {aside}"] + [f"mv {path}{ext} {aside}{ext}" for ext in pair]
    command = " && ".join(moves if closed else moves[:1])
    extra = "" if closed else f" (and {path}-wal and -shm the same way, if they are left)"
    return (f"move it aside and honed recreates it empty on its next run: `{command}`{extra}; "
            f"what it held may be salvaged with `sqlite3 {aside} .recover`")


def state_error(path: Path, exc: sqlite3.Error, *, closed: bool = False) -> ConfigError | None:
    """The ConfigError for a damaged, unreadable or unwritable state file; None for others."""
    code, detail = error_code(exc), str(exc)
    if code in (_CORRUPT, _NOTADB):
        return ConfigError(f"this honed state file is damaged ({detail})", file=str(path),
                           fix=recovery_fix(path, closed=closed))
    if code in (_CANTOPEN, _READONLY):
        return ConfigError(f"cannot open or write this honed state file ({detail})",
                           file=str(path),
                           fix="make its folder writable, or point HONED_HOME at one that is")
    if code == _FULL:
        return ConfigError(f"the disk is full ({detail})", file=str(path),
                           fix="free some space and run the command again")
    return None


@contextmanager
def guard(path: Path) -> Iterator[None]:
    """Turn a damaged-file, permission or full-disk error into ``state_error``'s ConfigError."""
    try:
        yield
    except sqlite3.Error as exc:
        error = state_error(path, exc)
        if error is None:
            raise
        raise error from None


class GuardedCursor(sqlite3.Cursor):
    """A cursor whose every step is under ``guard`` (damage can surface on any page read)."""

    def _path(self) -> Path:
        return getattr(self.connection, "path", Path("?"))

    def execute(self, sql: str, parameters: Any = (), /) -> sqlite3.Cursor:
        with guard(self._path()):
            return super().execute(sql, parameters)

    def executemany(self, sql: str, seq: Any, /) -> sqlite3.Cursor:
        with guard(self._path()):
            return super().executemany(sql, seq)

    def fetchone(self) -> Any:
        with guard(self._path()):
            return super().fetchone()

    def fetchall(self) -> list[Any]:
        with guard(self._path()):
            return super().fetchall()

    def __next__(self) -> Any:
        with guard(self._path()):
            return super().__next__()


class GuardedConnection(sqlite3.Connection):
    """A connection that knows its file and runs every statement through a ``GuardedCursor``."""

    path: Path

    def execute(self, sql: str, parameters: Any = (), /) -> sqlite3.Cursor:
        return self.cursor(GuardedCursor).execute(sql, parameters)

    def executemany(self, sql: str, seq: Any, /) -> sqlite3.Cursor:
        return self.cursor(GuardedCursor).executemany(sql, seq)


# connections ------------------------------------------------------------------------------------
def retry_busy(call: Callable[[], T], timeout_s: float = BUSY_TIMEOUT_S) -> T:
    """Run ``call`` again while SQLite answers SQLITE_BUSY without waiting (jittered backoff)."""
    deadline, wait = time.monotonic() + timeout_s, 0.005
    while True:
        try:
            return call()
        except sqlite3.OperationalError as exc:
            if error_code(exc) != _BUSY or time.monotonic() + wait > deadline:
                raise
        time.sleep(wait * random.uniform(0.5, 1.5))
        wait = min(wait * 2, 0.2)


def connect(path: Path, *, guarded: bool = True, threads: bool = False) -> sqlite3.Connection:
    """A WAL-mode connection in autocommit mode (transactions are explicit).

    ``guarded`` connections raise ``state_error``'s ConfigError for a damaged file on any query;
    unguarded ones raise SQLite's own errors (the cache handles those itself). Opening checks the
    file either way: a file that is not a database or is truncated fails here.
    """
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"cannot create the folder of this honed state file ({exc})",
                          file=str(path), fix="point HONED_HOME at a writable folder") from None
    with guard(path):
        factory = GuardedConnection if guarded else sqlite3.Connection
        db = sqlite3.connect(path, timeout=BUSY_TIMEOUT_S, isolation_level=None,
                             check_same_thread=not threads, factory=factory)
    if isinstance(db, GuardedConnection):
        db.path = path
    try:
        _setup(db)
    except sqlite3.Error as exc:
        db.close()  # first, so the message lists the files really left on disk
        error = state_error(path, exc, closed=True) if guarded else None
        if error is None:
            raise
        raise error from None
    except BaseException:
        db.close()
        raise
    return db


def _setup(db: sqlite3.Connection) -> None:
    """WAL mode and a first read of the file's header and schema (SQLite's own errors)."""
    def execute(sql: str) -> Any:
        return sqlite3.Connection.execute(db, sql).fetchone()

    db.row_factory = sqlite3.Row
    retry_busy(lambda: execute("PRAGMA journal_mode=WAL"))
    execute("PRAGMA synchronous=NORMAL")
    execute("SELECT count(*) FROM sqlite_master")


def move_aside(path: Path) -> Path:
    """Rename a damaged file and its ``-wal``/``-shm`` pair to ``NAME.corrupt-STAMP[...]``
    (kept together, so ``sqlite3 .recover`` can still read them); return the new name."""
    stamp = time.strftime(".corrupt-%Y%m%d-%H%M%S")
    aside, n = aside_name(path, stamp), 1
    while aside.exists():
        aside, n = aside_name(path, f"{stamp}-{n}"), n + 1
    for ext in ("", "-wal", "-shm"):
        source = Path(f"{path}{ext}")
        if source.exists():
            os.replace(source, f"{aside}{ext}")
    return aside


@contextmanager
def transaction(db: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """One write transaction, holding the write lock from its start (see the module doc)."""
    db.execute("BEGIN IMMEDIATE")
    try:
        yield db
    except BaseException:
        if db.in_transaction:  # SQLite has already rolled back after a full disk, for one
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
    """A SQLite file opened with ``connect`` and brought up to date with ``MIGRATIONS``.

    Safe to share between processes; a damaged file raises ``ConfigError`` naming it (see the
    module doc).
    """

    MIGRATIONS: Sequence[tuple[str, str]] = ()

    def __init__(self, path: Path) -> None:
        self.path = path
        self._db = connect(path)
        try:
            migrate(self._db, self.MIGRATIONS)
        except BaseException:
            self._db.close()
            raise

    def _tx(self) -> AbstractContextManager[sqlite3.Connection]:
        return transaction(self._db)

    def applied_migrations(self) -> list[str]:
        return applied(self._db)

    def close(self) -> None:
        self._db.close()
