import sqlite3
from pathlib import Path

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
