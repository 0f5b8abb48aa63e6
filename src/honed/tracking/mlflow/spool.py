"""The spool: tracked runs waiting to be logged to MLflow, one JSON file each.

A tracked command records its MLflow run in memory and writes it, already redacted, to
``$HONED_HOME/spool/<id>.json`` (atomically: a temporary file, then a rename). It writes the file
when the run starts and at most every ``CHECKPOINT_S`` seconds while it runs (``final: false``),
and once more when it ends (``final: true``). A flusher (``python -m
honed.tracking.mlflow.flush``) logs a file to MLflow and deletes it; it holds an exclusive lock
on the file while it works, so two flushers never log the same run twice.

What is left behind (a flusher killed, an MLflow store that was down, a command killed mid-run)
is picked up by the next tracked command or ``honed registry ui``: ``pending`` lists the final
files no flusher holds, and the checkpoints of commands that are no longer running (logged as
killed).
A failed attempt leaves ``<id>.error`` next to the file (attempts and the masked error); after
``MAX_ATTEMPTS`` the file moves to ``spool/failed/`` and is no longer retried.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

try:
    import fcntl
except ImportError:  # no advisory locks (Windows): one flusher at a time is then up to luck
    fcntl = None  # type: ignore[assignment]

SPOOL_DIR, FAILED_DIR, FLUSHER_LOCK = "spool", "failed", ".flusher.lock"
FORMAT, CHECKPOINT_S, MAX_ATTEMPTS, GRACE_S = 1, 30.0, 3, 5.0
FLUSH_MODULE = "honed.tracking.mlflow.flush"


def spool_dir(home: Path) -> Path:
    return home / SPOOL_DIR


def new_id() -> str:
    return uuid.uuid4().hex


def owner() -> dict[str, Any]:
    """Who writes a spool file: checkpoints of a process that died are flushed as killed."""
    return {"host": socket.gethostname(), "pid": os.getpid()}


def write_atomic(path: Path, data: Mapping[str, Any]) -> None:
    """Write JSON to a temporary file next to ``path`` and rename it over ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "w", encoding="utf-8") as handle:
        json.dump(data, handle, ensure_ascii=False, default=str, separators=(",", ":"))
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


# claiming a file ------------------------------------------------------------------------------
@contextlib.contextmanager
def claim(path: Path) -> Iterator[dict[str, Any] | None]:
    """The record in ``path``, locked for this process; None when another process holds it or it
    is gone (already flushed). Delete it with ``done`` inside the block."""
    try:
        handle = open(path, "rb")  # noqa: SIM115 - the lock lives as long as the handle
    except FileNotFoundError:
        yield None
        return
    with handle:
        if not _lock(handle.fileno()) or not _same_file(handle.fileno(), path):
            yield None
            return
        try:
            record = json.loads(handle.read().decode("utf-8"))
        except ValueError:
            record = None
        if not isinstance(record, dict) or record.get("format") != FORMAT:
            record_failure(path, "not a honed spool record", attempts=MAX_ATTEMPTS)
            yield None  # set aside in failed/ for a person to look at
            return
        yield record


def _lock(fd: int) -> bool:
    if fcntl is None:
        return True
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return False
    return True


def _same_file(fd: int, path: Path) -> bool:
    """Still the file at ``path`` (a flusher that finished first deletes or replaces it)?"""
    try:
        return os.fstat(fd).st_ino == os.stat(path).st_ino
    except FileNotFoundError:
        return False


def done(path: Path) -> None:
    """The record is in MLflow: remove it and any error note."""
    for leftover in (path, error_path(path)):
        with contextlib.suppress(FileNotFoundError):
            leftover.unlink()


# failures -------------------------------------------------------------------------------------
def error_path(path: Path) -> Path:
    return path.with_suffix(".error")


def record_failure(path: Path, message: str, *, attempts: int | None = None) -> int:
    """Note a failed attempt next to the file; after ``MAX_ATTEMPTS`` move it to ``failed/``.
    Returns the number of attempts so far."""
    note = error_path(path)
    attempts = attempts or read_failure(note).get("attempts", 0) + 1
    write_atomic(note, {"attempts": attempts, "error": message, "time": time.time()})
    if attempts >= MAX_ATTEMPTS:
        target = path.parent / FAILED_DIR
        target.mkdir(exist_ok=True)
        for item in (path, note):
            with contextlib.suppress(FileNotFoundError):
                os.replace(item, target / item.name)
    return attempts


def read_failure(note: Path) -> dict[str, Any]:
    try:
        data = json.loads(note.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def failures(home: Path) -> list[str]:
    """One line per spooled run whose logging failed: those retried later (every time), and
    those given up in ``failed/`` (once: their note is then renamed ``.reported``)."""
    folder = spool_dir(home)
    lines = []
    for note in sorted(folder.glob("*.error")):
        info = read_failure(note)
        lines.append(f"MLflow logging of run {note.stem[:8]} failed "
                     f"({info.get('attempts', '?')} attempt(s); retried later): "
                     f"{info.get('error', 'unknown error')}")
    for note in sorted((folder / FAILED_DIR).glob("*.error")):
        info = read_failure(note)
        lines.append(f"MLflow logging of run {note.stem[:8]} gave up after "
                     f"{info.get('attempts', '?')} attempt(s): {info.get('error', 'unknown')} "
                     f"(the run is kept in {note.with_suffix('.json')})")
        with contextlib.suppress(OSError):
            note.rename(note.with_suffix(".reported"))
    return lines


# what is left to flush ------------------------------------------------------------------------
def pending(home: Path, *, grace_s: float = GRACE_S) -> list[Path]:
    """Spool files nobody is flushing: final ones older than ``grace_s`` (their own flusher has
    had time to lock them) and checkpoints of commands that are no longer running."""
    folder = spool_dir(home)
    if not folder.is_dir():
        return []
    now, found = time.time(), []
    for path in sorted(folder.glob("*.json")):
        try:
            age = now - path.stat().st_mtime
            head = _peek(path)
        except OSError:
            continue  # flushed a moment ago
        except ValueError:  # not a record (files are renamed into place whole): set it aside
            found.append(path)
            continue
        if _abandoned(path, head, age, grace_s):
            found.append(path)
    return found


def _abandoned(path: Path, head: Mapping[str, Any], age: float, grace_s: float) -> bool:
    if head.get("final"):
        return age >= grace_s and not _locked(path)
    return not alive(head.get("owner") or {})


def _peek(path: Path) -> dict[str, Any]:
    data = json.loads(path.read_bytes())
    return data if isinstance(data, dict) else {}


def _locked(path: Path) -> bool:
    if fcntl is None:
        return False
    with open(path, "rb") as handle:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_SH | fcntl.LOCK_NB)
        except OSError:
            return True
    return False


def alive(who: Mapping[str, Any]) -> bool:
    """Is the process that wrote a checkpoint still running? Another host's: assume so."""
    if who.get("host") != socket.gethostname():
        return True
    try:
        pid = int(who.get("pid") or 0)
    except (TypeError, ValueError):
        return False
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # it exists, owned by someone else
        return True
    return True


# the background flusher -----------------------------------------------------------------------
def flusher_env(secret_names: Sequence[str] = ()) -> dict[str, str]:
    """The flusher's environment: this one without model credentials (MLflow's own are kept)."""
    from honed.tracking.mlflow.redaction import sensitive_name
    from honed.tracking.mlflow.store import OFFLINE_ENV

    drop = set(secret_names)
    env = {k: v for k, v in os.environ.items()
           if k.startswith("MLFLOW_") or (k not in drop and not sensitive_name(k))}
    return {**OFFLINE_ENV, **env}


@contextlib.contextmanager
def flusher_lock(home: Path) -> Iterator[bool]:
    """Be ``home``'s one background flusher: True while held, False when another process is."""
    path = spool_dir(home) / FLUSHER_LOCK
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+b") as handle:
        yield _lock(handle.fileno())  # released when the handle closes


def flusher_running(home: Path) -> bool:
    with flusher_lock(home) as mine:
        return not mine


def spawn_flusher(home: Path, secret_names: Sequence[str] = ()) -> bool:
    """Start a detached process that logs ``home``'s spool to MLflow, unless one is running
    (it will find what was written before this call); returns at once."""
    if flusher_running(home):
        return False
    options: dict[str, Any] = {"start_new_session": True} if os.name == "posix" else {
        "creationflags": getattr(subprocess, "DETACHED_PROCESS", 0)}
    subprocess.Popen([sys.executable, "-m", FLUSH_MODULE, "--background", "--home", str(home)],
                     stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                     stderr=subprocess.DEVNULL, close_fds=True, env=flusher_env(secret_names),
                     **options)
    return True
