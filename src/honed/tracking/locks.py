"""One process per run: a run holds an OS file lock (``filelock``) beside the run store for as
long as it runs, so ``--resume`` refuses a run another process is still running. The operating
system releases the lock when its process ends, however it ends (kill -9 included), so a
crashed run can be resumed at once."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from honed.errors import ConfigError

if TYPE_CHECKING:
    from filelock import FileLock

LOCKS = "locks"  # the folder, beside runs.sqlite
WAIT_S = 0.5  # how long a run waits for its lock: longer than a reader's probe holds it


def lock_path(store_dir: Path, run_id: str) -> Path:
    return store_dir / LOCKS / f"{run_id}.lock"


def hold_run(store_dir: Path, run_id: str) -> FileLock:
    """The run's lock, held (release it when the run ends); a ConfigError naming the run when
    another process holds it."""
    from filelock import FileLock, Timeout  # lazily: it takes a while to import

    path = lock_path(store_dir, run_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    lock = FileLock(path)
    try:
        lock.acquire(timeout=WAIT_S)
    except Timeout:
        raise ConfigError(f"run {run_id} is still running in another process",
                          field="--resume",
                          fix="wait for it to finish, or stop it (Ctrl-C) and resume then"
                          ) from None
    return lock


def release_run(lock: FileLock, *, finished: bool) -> None:
    """Let go of a run's lock; a finished run's lock file goes too (a finished run is never
    resumed, so no process waits for it; an unfinished run's stays for ``held``)."""
    lock.release()
    if finished:
        Path(lock.lock_file).unlink(missing_ok=True)


def held(store_dir: Path, run_id: str) -> bool:
    """Whether a process is running ``run_id`` now: its lock is held. A run whose row says
    ``running`` but whose lock is free was killed (no process of it is left). The probe holds
    the lock for an instant, which ``hold_run``'s wait absorbs."""
    from filelock import FileLock, Timeout

    path = lock_path(store_dir, run_id)
    if not path.exists():
        return False
    probe = FileLock(path)
    try:
        probe.acquire(timeout=0)
    except Timeout:
        return True
    probe.release()
    return False
