"""One process per run: the run lock is refused while another process holds it and free as
soon as that process ends, even by kill -9."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from honed.errors import ConfigError
from honed.tracking.locks import held, hold_run

HOLDER = """
import sys, time
from pathlib import Path
from honed.tracking.locks import held, hold_run
lock = hold_run(Path(sys.argv[1]), sys.argv[2])  # held while referenced
print("held", flush=True)
time.sleep(120)
"""


def holder(folder: Path, run_id: str) -> subprocess.Popen[str]:
    """A process that holds ``run_id``'s lock until it is killed."""
    proc = subprocess.Popen([sys.executable, "-c", HOLDER, str(folder), run_id],
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
    return proc


def test_a_run_held_elsewhere_is_refused_until_its_process_dies(tmp_path) -> None:
    proc = holder(tmp_path, "r1")
    try:
        with pytest.raises(ConfigError, match="r1 is still running in another process"):
            hold_run(tmp_path, "r1")
        other = hold_run(tmp_path, "r2")  # another run is not affected
        other.release()
    finally:
        proc.kill()  # SIGKILL: no clean-up runs, the OS drops the lock
        proc.wait()
    lock = hold_run(tmp_path, "r1")
    assert lock.is_locked
    lock.release()
    assert (tmp_path / "locks" / "r1.lock").exists()


def test_the_refusal_says_what_to_do(tmp_path) -> None:
    proc = holder(tmp_path, "r1")
    try:
        with pytest.raises(ConfigError) as caught:
            hold_run(tmp_path, "r1")
    finally:
        proc.kill()
        proc.wait()
    assert caught.value.field == "--resume" and "wait for it" in (caught.value.fix or "")


def test_a_running_row_without_its_process_reads_as_interrupted(tmp_path) -> None:

    from honed.tracking.store import RunStore

    store = RunStore(tmp_path / "runs.sqlite")
    for run_id in ("alive", "killed", "never-locked"):
        store.create_run(run_id, kind="optimize", task="t", task_path=None, optimizer="auto",
                         config={})
    killed = holder(tmp_path, "killed")
    killed.kill()
    killed.wait()
    proc = holder(tmp_path, "alive")
    try:
        assert held(tmp_path, "alive") and not held(tmp_path, "killed")
        assert not held(tmp_path, "never-locked")
        assert {r.id: r.status for r in store.runs()} == {
            "alive": "running", "killed": "interrupted", "never-locked": "interrupted"}
        assert store.run("alive").status == "running"
        assert store.progress("killed")[0] == "interrupted"
        assert held(tmp_path, "alive")  # probing did not take the lock away
    finally:
        proc.kill()
        proc.wait()
    assert store.run("alive").status == "interrupted"
    assert store.latest_unfinished("t") is not None  # and --resume finds it
    store.close()


def test_a_finished_run_leaves_no_lock_file(tmp_path) -> None:
    from honed.tracking.locks import release_run

    done, failed = hold_run(tmp_path, "done"), hold_run(tmp_path, "failed")
    release_run(done, finished=True)
    release_run(failed, finished=False)
    assert sorted(p.name for p in (tmp_path / "locks").iterdir()) == ["failed.lock"]
    assert not held(tmp_path, "failed") and not held(tmp_path, "done")
