import sqlite3
import threading
import time
from pathlib import Path

import pytest

from honed.errors import ConfigError
from honed.tracking.sqlite import retry_busy
from honed.tracking.store import MIGRATIONS, RunStore
from honed.types import Candidate


def test_migrations_are_ordered_and_idempotent(tmp_path: Path) -> None:
    path = tmp_path / "runs.sqlite"
    RunStore(path).close()
    store = RunStore(path)
    assert store.applied_migrations() == [name for name, _ in MIGRATIONS]
    assert [n for n, _ in MIGRATIONS] == sorted(n for n, _ in MIGRATIONS)
    store.close()


def test_runs_candidates_evaluations_and_steps(tmp_path: Path) -> None:
    store = RunStore(tmp_path / "runs.sqlite")
    store.create_run("r1", kind="optimize", task="t", task_path="t.yaml", optimizer="mutate",
                     config={"seed": 1})
    cand = Candidate({"system": "S", "user": "{text}"}, ("d1",))
    store.add_candidate("r1", cand, origin="seed")
    store.add_candidate("r1", cand, origin="again")  # content-addressed: stored once
    assert store.candidate("r1", cand.id) == cand
    assert len(store.candidates("r1")) == 1
    store.save_evaluation("r1", "k", candidate_id=cand.id, split="val", n=2, score=0.5,
                          summary={"score": 0.5}, results=[{"example_id": "a"}], rollouts=2)
    assert store.evaluation("r1", "k")["rollouts"] == 2
    store.add_step("r1", 1, iteration=0, phase="seed", candidate_id=cand.id, split="val",
                   score=0.5, n=2, accepted=True, best_so_far=0.5, rollouts=2, cost_usd=0.0)
    assert store.steps("r1")[0]["phase"] == "seed"
    assert store.latest_unfinished("t").id == "r1"
    store.finish_run("r1", "finished", {"best": 1})
    assert store.latest_unfinished("t") is None and store.run("r1").result == {"best": 1}
    store.close()


def test_nothing_is_pickled(tmp_path: Path) -> None:
    path = tmp_path / "runs.sqlite"
    store = RunStore(path)
    store.add_candidate("r", Candidate({"system": "x", "user": "y"}))
    store.close()
    body = sqlite3.connect(path).execute("SELECT body FROM candidates").fetchone()[0]
    assert body.startswith("{") and '"components"' in body


# several processes, damaged files ---------------------------------------------------------------
def fill(path: Path, n: int = 60) -> list[str]:
    """A run store with ``n`` evaluations, big enough to span many pages."""
    store = RunStore(path)
    store.create_run("r", kind="optimize", task="t", task_path=None, optimizer=None, config={})
    keys = [f"k{i:03d}" for i in range(n)]
    for key in keys:
        store.save_evaluation("r", key, candidate_id="c", split="val", n=1, score=0.5,
                              summary={}, results=[{"output": key * 200}], rollouts=1)
    store.close()
    return keys


def test_a_file_that_is_not_a_database_names_the_file_and_the_fix(tmp_path: Path) -> None:
    path = tmp_path / "runs.sqlite"
    path.write_bytes(b"this is not a database at all\n" * 200)
    with pytest.raises(ConfigError) as caught:
        RunStore(path)
    text = str(caught.value)
    assert str(path) in text and "damaged" in text and "file is not a database" in text
    assert f"`mv {path} {path}.corrupt`" in text and ".recover" in text
    assert path.read_bytes().startswith(b"this is not a database")  # left as it was


def test_a_truncated_store_is_refused_on_open(tmp_path: Path) -> None:
    path = tmp_path / "runs.sqlite"
    fill(path)
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2 + 99])
    with pytest.raises(ConfigError, match="damaged"):
        RunStore(path)


def test_damage_met_by_a_later_query_is_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "runs.sqlite"
    keys = fill(path)
    data = bytearray(path.read_bytes())
    page = int.from_bytes(data[16:18], "big")
    data[-page:] = b"\xa5" * page  # the last page: evaluation rows, not read on open
    path.write_bytes(bytes(data))
    store = RunStore(path)
    with pytest.raises(ConfigError) as caught:
        for key in keys:
            store.evaluation("r", key)
    store.close()
    assert str(path) in str(caught.value) and "mv " in str(caught.value)


def test_a_path_that_cannot_be_opened_is_a_config_error(tmp_path: Path) -> None:
    folder = tmp_path / "runs.sqlite"
    folder.mkdir()  # a folder where the file should be
    with pytest.raises(ConfigError, match="cannot open or write"):
        RunStore(folder)


def busy() -> sqlite3.OperationalError:
    error = sqlite3.OperationalError("database is locked")
    error.sqlite_errorcode = 5  # type: ignore[attr-defined]
    return error


def test_retry_busy_retries_only_busy_and_only_until_its_deadline() -> None:
    calls: list[int] = []

    def flaky() -> str:
        calls.append(1)
        if len(calls) < 4:
            raise busy()
        return "done"

    assert retry_busy(flaky) == "done" and len(calls) == 4

    def always() -> None:
        raise busy()

    started = time.monotonic()
    with pytest.raises(sqlite3.OperationalError):
        retry_busy(always, timeout_s=0.2)
    assert time.monotonic() - started < 1.0

    def other() -> None:
        calls.append(1)
        raise sqlite3.OperationalError("no such table: x")

    calls.clear()
    with pytest.raises(sqlite3.OperationalError, match="no such table"):
        retry_busy(other)
    assert len(calls) == 1


def test_a_writer_waits_for_another_connections_write_instead_of_failing(
        tmp_path: Path) -> None:
    path = tmp_path / "runs.sqlite"
    store = RunStore(path)
    store.create_run("r", kind="optimize", task="t", task_path=None, optimizer=None, config={})
    held, release = threading.Event(), threading.Event()

    def hold() -> None:  # another connection (its own thread) in the middle of a write
        other = RunStore(path)
        with other._tx() as db:
            db.execute("UPDATE runs SET updated = 0")
            held.set()
            release.wait(5)
        other.close()

    holder = threading.Thread(target=hold)
    holder.start()
    assert held.wait(5)
    threading.Timer(0.3, release.set).start()
    started = time.monotonic()
    store.touch("r", "interrupted")  # waits for the other transaction, then writes
    holder.join()
    assert time.monotonic() - started >= 0.2
    assert store.run("r").status == "interrupted"
    store.close()
