"""Log spooled runs to MLflow: ``python -m honed.tracking.mlflow.flush FILE... | --home HOME``.

A tracked command starts this in the background (``--home``) unless it is already running
there, and returns; the flusher logs every finished run in the spool, then looks again before it
exits. The next tracked command and ``honed registry ui`` flush whatever is left
(``flush_pending``). Only a process that has something to log imports MLflow. Exit status 0
when everything was logged (or was being logged by another process), 1 when something failed
(noted next to the file, retried later).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from honed.tracking.mlflow.redaction import mask_text
from honed.tracking.mlflow.replay import Receipt, replay
from honed.tracking.mlflow.spool import (
    claim,
    done,
    flusher_lock,
    pending,
    record_failure,
    spawn_flusher,
)


@dataclass
class Flushed:
    """What a flush did: receipts of the runs logged, errors of the ones that failed."""

    receipts: list[Receipt] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    started: int = 0  # files handed to a background flusher


def flush_file(path: Path) -> Receipt | None:
    """Log one spool file to MLflow, then delete it. None when another process holds it or it is
    already gone; raises (after noting the failure next to the file) when logging fails."""
    with claim(path) as record:
        if record is None:
            return None
        try:
            receipt = replay(record)
        except Exception as exc:
            record_failure(path, mask_text(f"{type(exc).__name__}: {exc}"))
            raise
        done(path)
        return receipt


def flush_files(paths: Sequence[Path]) -> Flushed:
    out = Flushed()
    for path in paths:
        try:
            receipt = flush_file(path)
        except Exception as exc:
            out.errors.append(f"MLflow logging of run {path.stem[:8]}: "
                              + mask_text(f"{type(exc).__name__}: {exc}"))
            continue
        if receipt is not None:
            out.receipts.append(receipt)
    return out


def flush_pending(home: Path, *, wait: bool = True, grace_s: float | None = None,
                  secret_names: Sequence[str] = ()) -> Flushed:
    """Flush the runs left in ``home``'s spool: here and now (``wait``), or by the background
    flusher (started unless running). ``grace_s``: how old a finished run's file must be before
    it is taken here rather than left to the background flusher (default ``spool.GRACE_S``; 0
    takes everything no other process holds)."""
    paths = pending(home) if grace_s is None else pending(home, grace_s=grace_s)
    if not wait:
        started = bool(paths) and spawn_flusher(home, secret_names)
        return Flushed(started=len(paths) if started else 0)
    return flush_files(paths)


def drain(home: Path) -> Flushed:
    """Flush ``home``'s spool as its one background flusher, until nothing new is left (each
    file tried once); returns at once when another process is the flusher."""
    out, tried = Flushed(), set[Path]()
    while True:
        with flusher_lock(home) as mine:
            if not mine:
                return out
            while todo := [p for p in pending(home, grace_s=0) if p not in tried]:
                tried.update(todo)
                done_now = flush_files(todo)
                out.receipts += done_now.receipts
                out.errors += done_now.errors
        # written while the lock was held by us: their writer saw a flusher running
        if not [p for p in pending(home, grace_s=0) if p not in tried]:
            return out


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m honed.tracking.mlflow.flush",
                                     description="Log spooled honed runs to MLflow.")
    parser.add_argument("files", nargs="*", type=Path, help="spool files")
    parser.add_argument("--home", type=Path, help="flush everything left in HOME/spool")
    parser.add_argument("--background", action="store_true",
                        help="run at low CPU priority (a tracked command started it)")
    args = parser.parse_args(argv)
    if args.background and hasattr(os, "nice"):
        os.nice(10)  # the user's next command comes first
    if os.environ.get("HONED_FORBID_NETWORK") == "1":
        from honed.testing import block_network

        block_network()
    result = flush_files(list(args.files))
    if args.home:
        drained = drain(args.home)
        result.receipts += drained.receipts
        result.errors += drained.errors
    logging.basicConfig(format="%(message)s")  # this process's stderr: the spool's log
    for line in result.errors:
        logging.getLogger("honed.tracking").error(line)
    return 1 if result.errors else 0


if __name__ == "__main__":
    code = main()
    sys.stderr.flush()
    # everything is committed: skip the interpreter's (and MLflow's) seconds-long teardown,
    # which would otherwise compete with the user's next command for the CPU
    os._exit(code)
