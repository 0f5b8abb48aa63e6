"""Experiments, decisions and request scores in the production log, on a real SQLite file and a
real PostgreSQL server; and the 0002 migration over a database that already holds data."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import create_engine, inspect, text

from honed.errors import ConfigError
from honed.store import LogStore, open_store
from honed.store import db as store_db
from honed.store.experiments import ExperimentStore, UnknownExperimentError


@pytest.fixture
def store(db_url: str) -> Iterator[LogStore]:
    s = open_store(db_url)
    yield s
    s.close()


def _experiment(name: str = "exp", **extra: Any) -> dict[str, Any]:
    return {"name": name, "prompt": "sent", "control_ref": "sent@production",
            "control_version": 1, "treatment_ref": "sent@candidate", "treatment_version": 2,
            "split": 0.1, "metric": "feedback",
            "guardrails": [{"metric": "error_rate", "op": "<", "limit": 0.01}],
            "max_requests": 1000, "max_days": 7.0, "task": None, "salt": "abc",
            "created": 1_000.0, **extra}


def _request(rid: str, experiment: str | None, arm: str | None, created: float) -> dict:
    return {"id": rid, "prompt": "sent", "version": 1 if arm != "treatment" else 2,
            "inputs": {"text": rid}, "output": "positive", "arm": arm,
            "experiment": experiment, "created": created, "user_id": f"u-{rid}"}


def test_experiments_round_trip(store: LogStore) -> None:
    es = ExperimentStore.of(store)
    made = es.create(_experiment())
    assert made["status"] == "running" and made["ended"] is None and made["result"] is None
    assert made["guardrails"] == [{"metric": "error_rate", "op": "<", "limit": 0.01}]
    assert (made["split"], made["max_requests"], made["max_days"]) == (0.1, 1000, 7.0)
    es.create(_experiment("later", created=2_000.0, prompt="other"))
    assert [e["name"] for e in es.experiments()] == ["later", "exp"]
    assert [e["name"] for e in es.experiments(prompt="sent")] == ["exp"]
    assert [e["name"] for e in es.running()] == ["later", "exp"]
    es.save_result("exp", {"verdict": {"outcome": "continue"}})
    assert es.get("exp")["result"] == {"verdict": {"outcome": "continue"}}
    assert es.find("nope") is None


def test_the_unit_of_observation_round_trips_and_old_rows_read_per_request(
        store: LogStore) -> None:
    from honed.experiments import Experiment

    es = ExperimentStore.of(store)
    es.create(_experiment("per-user", unit="user"))
    es.create(_experiment("before-units"))  # as started before migration 0005: no unit
    assert es.get("per-user")["unit"] == "user" and es.get("before-units")["unit"] is None
    assert Experiment.from_row(es.get("per-user")).unit == "user"
    assert Experiment.from_row(es.get("before-units")).unit == "request"


def test_names_are_unique_and_unknown_names_are_named(store: LogStore) -> None:
    es = ExperimentStore.of(store)
    es.create(_experiment())
    with pytest.raises(ConfigError, match="'exp' already exists"):
        es.create(_experiment())
    with pytest.raises(UnknownExperimentError, match="no experiment named 'nope'"):
        es.get("nope")


def test_an_experiment_is_concluded_once_with_its_decision(store: LogStore) -> None:
    es = ExperimentStore.of(store)
    es.create(_experiment())
    decision = {"prompt": "sent", "kind": "promote", "alias": "production", "from_version": 1,
                "to_version": 2, "evidence": {"p_value": 0.001, "ci": [0.1, 0.3]}}
    first = es.conclude("exp", "won", {"verdict": {"outcome": "won"}}, decision, now=5_000.0)
    assert first is not None and first["experiment"] == "exp" and first["kind"] == "promote"
    assert first["evidence"] == {"p_value": 0.001, "ci": [0.1, 0.3]}
    assert first["created"] == 5_000.0 and first["undone_at"] is None
    assert es.conclude("exp", "lost", None, {**decision, "kind": "keep"}) is None
    ended = es.get("exp")
    assert (ended["status"], ended["ended"]) == ("won", 5_000.0)
    assert ended["result"] == {"verdict": {"outcome": "won"}}
    assert es.running() == [] and len(es.decisions(experiment="exp")) == 1


def test_requests_of_an_experiment_with_feedback(store: LogStore) -> None:
    store.log_requests([_request("a", "exp", "control", 3.0),
                        _request("b", "exp", "treatment", 1.0),
                        _request("c", None, None, 2.0),
                        _request("d", "other", "control", 2.5)])
    store.add_feedback("b", score=1.0)
    store.add_feedback("b", label="positive")
    rows = ExperimentStore.of(store).requests("exp")
    assert [r["id"] for r in rows] == ["b", "a"]  # oldest first
    assert rows[0]["arm"] == "treatment" and rows[0]["version"] == 2
    assert rows[0]["inputs"] == {"text": "b"} and rows[0]["user_id"] == "u-b"
    assert [(f["score"], f["label"]) for f in rows[0]["feedback"]] == [(1.0, None),
                                                                      (None, "positive")]
    assert rows[1]["feedback"] == []
    [logged] = [r for r in store.requests() if r["id"] == "a"]
    assert logged["experiment"] == "exp"


def test_scores_are_written_once(store: LogStore) -> None:
    store.log_requests([_request(r, "exp", "control", 1.0) for r in ("a", "b", "c")])
    es = ExperimentStore.of(store)
    assert es.add_scores([]) == 0
    assert es.add_scores([{"request_id": "a", "eval": "acc", "score": 1.0, "passed": True},
                          {"request_id": "b", "eval": "acc", "score": 0.0, "passed": False,
                           "error": "raised"}]) == 2
    assert es.add_scores([{"request_id": "a", "eval": "acc", "score": 0.0, "passed": False},
                          {"request_id": "a", "eval": "f1", "score": 0.5, "passed": True},
                          {"request_id": "c", "eval": "acc", "score": 1.0,
                           "passed": True}]) == 2
    acc = es.scores("acc")
    assert {k: v["score"] for k, v in acc.items()} == {"a": 1.0, "b": 0.0, "c": 1.0}
    assert acc["a"]["passed"] is True and acc["b"]["error"] == "raised"
    assert list(es.scores("acc", ["b"])) == ["b"] and es.scores("acc", []) == {}
    assert list(es.scores("f1")) == ["a"]


def test_decisions_are_listed_and_undone_once(store: LogStore) -> None:
    es = ExperimentStore.of(store)
    first = es.record_decision({"prompt": "sent", "kind": "promote", "alias": "production",
                                "from_version": 1, "to_version": 2, "experiment": "exp"},
                               now=10.0)
    es.record_decision({"prompt": "other", "kind": "keep"}, now=11.0)
    assert [d["prompt"] for d in es.decisions()] == ["other", "sent"]
    assert [d["id"] for d in es.decisions(prompt="sent", kind="promote")] == [first["id"]]
    undo = {"prompt": "sent", "kind": "rollback", "alias": "production", "from_version": 2,
            "to_version": 1, "evidence": {"undoes": first["id"]}}
    done = es.undo(first["id"], undo, now=20.0)
    assert done is not None and done["kind"] == "rollback"
    undone = es.decision(first["id"])
    assert (undone["undone_at"], undone["undone_by"]) == (20.0, done["id"])
    assert es.undo(first["id"], undo) is None
    assert len(es.decisions(prompt="sent")) == 2  # the second undo wrote nothing


def test_upgrade_from_0001_keeps_the_data(db_url: str) -> None:
    from alembic import command

    engine = create_engine(db_url)
    try:
        with engine.begin() as conn:
            command.upgrade(store_db.alembic_config(conn), "0001")
        with engine.begin() as conn:
            conn.execute(text(
                "INSERT INTO requests (id, created, prompt, version, alias, inputs, output, "
                "metadata, arm) VALUES ('old', :t, 'sent', 1, 'production', '{\"text\":\"hi\"}',"
                " 'positive', '{}', NULL)"), {"t": time.time()})
            conn.execute(text("INSERT INTO feedback (request_id, created, score) "
                              "VALUES ('old', :t, 1.0)"), {"t": time.time()})
            assert store_db.current_revision(conn) == "0001"
        assert "experiments" not in inspect(engine).get_table_names()
    finally:
        engine.dispose()
    with open_store(db_url) as upgraded:
        [row] = upgraded.requests()
        assert row["id"] == "old" and row["experiment"] is None
        assert [f["score"] for f in row["feedback"]] == [1.0]
        upgraded.log_request(_request("new", "exp", "treatment", time.time()))
        assert [r["id"] for r in ExperimentStore.of(upgraded).requests("exp")] == ["new"]
    engine = create_engine(db_url)
    try:
        tables = set(inspect(engine).get_table_names())
        assert {"experiments", "decisions", "request_scores"} <= tables
        with engine.connect() as conn:
            assert store_db.current_revision(conn) == store_db.head_revision()
    finally:
        engine.dispose()


def test_metric_rows_hold_what_a_metric_reads(store: LogStore) -> None:
    store.log_requests([_request("a", "exp", "control", 3.0),
                        _request("b", "exp", "treatment", 1.0),
                        _request("c", "other", "control", 2.0)])
    store.add_feedback("a", score=0.5, comment="fine")
    store.add_feedback("a", label="positive")
    store.add_feedback("c", score=1.0)
    es = ExperimentStore.of(store)
    rows = es.metric_rows("exp")
    assert [r["id"] for r in rows] == ["b", "a"]  # oldest first, this experiment only
    assert set(rows[0]) == {"id", "created", "arm", "user_id", "error", "output", "feedback"}
    assert rows[0]["feedback"] == []
    assert [(f["score"], f["label"]) for f in rows[1]["feedback"]] == [(0.5, None),
                                                                      (None, "positive")]
    assert [r["id"] for r in es.metric_rows("exp", limit=1)] == ["b"]
    assert es.metric_rows("none") == []


def test_more_ids_than_one_statement_takes_are_read_in_chunks(store: LogStore) -> None:
    """Feedback and scores of 1,201 requests: three chunks of ids, every row found once."""
    from honed.store.db import CHUNK

    n = 2 * CHUNK + 201
    store.log_requests([_request(f"r{i:04d}", "exp", "control", 1_000.0 + i)
                        for i in range(n)])
    for i in range(n):
        store.add_feedback(f"r{i:04d}", score=float(i % 2))
    es = ExperimentStore.of(store)
    es.add_scores([{"request_id": f"r{i:04d}", "eval": "acc", "score": float(i % 3 == 0),
                    "passed": i % 3 == 0} for i in range(n)])
    rows = es.requests("exp")
    assert len(rows) == n and all(len(r["feedback"]) == 1 for r in rows)
    assert [r["feedback"][0]["score"] for r in rows[:3]] == [0.0, 1.0, 0.0]
    scores = es.scores("acc", [r["id"] for r in rows])
    assert len(scores) == n and sum(s["passed"] for s in scores.values()) == (n + 2) // 3
