"""Report data from a real optimization of the sample task (a scripted fake model) in a real
run store and registry: summary, trajectory, matrix, diff, per-eval breakdown, comparisons."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from honed.errors import ConfigError
from honed.lifecycle.registries import open_registry
from honed.lifecycle.report import TaskLoader, compare_report, run_report
from honed.lifecycle.report.build import build_report
from honed.lifecycle.report.data import CompareReport, RunReport
from honed.lifecycle.report.worddiff import prompt_diff, tokens, word_diff
from honed.tracking.store import RunStore
from honed.types import Candidate
from honed.web.sample import HOSTILE, write_task
from honed.web.sample import run_sample as sample_run


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """One published optimization of the sample task (module-wide: it takes a second)."""
    folder = tmp_path_factory.mktemp("sample")
    path = write_task(folder)
    home = folder / "home"
    result = asyncio.run(sample_run(path, home=home, max_calls=200, publish=True))
    return {"folder": folder, "home": home, "task": path, "result": result}


@pytest.fixture
def store(sample: dict[str, Any]) -> Any:
    opened = RunStore(sample["home"] / "runs.sqlite")
    yield opened
    opened.close()


def report_of(sample: dict[str, Any], store: RunStore) -> RunReport:
    return run_report(store, sample["result"]["run_id"], tasks=TaskLoader([sample["folder"]]))


def test_summary_is_what_the_run_recorded(sample, store) -> None:
    report, result = report_of(sample, store), sample["result"]
    assert report.run.task == "sentiment" and report.run.status == "finished"
    assert report.run.model == "fake" and report.run.optimizer == "auto"
    assert report.run.seed == 0 and report.run.limits["max_calls"] == 200
    assert report.budget.calls == result["calls"] <= report.budget.max_calls == 200
    assert report.budget.cost_usd == pytest.approx(result["cost_usd"])
    assert report.best["test"].score == result["best"]["test"]["score"]
    assert report.best["test"].ci95 == tuple(result["best"]["test"]["ci95"])
    assert report.seed["val"].score == result["seed"]["val"]["score"]
    assert report.test_diff == result["test_diff"]
    assert report.registered is None and not report.live  # registered after the run
    registry = open_registry(sample["home"], backend="local")
    found = run_report(store, "latest", registry=registry).registered
    assert found["name"] == "sentiment" and found["version"] == result["registered"]["version"]


def test_trajectory_is_the_stored_steps(sample, store) -> None:
    report = report_of(sample, store)
    steps = store.steps(sample["result"]["run_id"])
    assert [s.seq for s in report.trajectory] == [s["seq"] for s in steps]
    calls = [s.rollouts for s in report.trajectory]
    best = [s.best_so_far for s in report.trajectory]
    assert calls == sorted(calls) and best == sorted(best)
    assert best[-1] == pytest.approx(sample["result"]["best"]["val"]["score"])


def test_matrix_rows_are_val_examples_with_their_inputs(sample, store) -> None:
    report = report_of(sample, store)
    matrix = report.matrix
    assert matrix is not None and matrix.split == "val" and len(matrix.rows) == 10
    assert [c.role for c in matrix.columns[:2]] == ["seed", "best"]
    assert matrix.columns[0].candidate_id == sample["result"]["seed"]["candidate_id"]
    assert all(row.inputs is not None and "text" in row.inputs for row in matrix.rows)
    for index, column in enumerate(matrix.columns):  # each column's passes give its val score
        cells = [row.cells[index] for row in matrix.rows]
        passed = sum(1 for c in cells if c is not None and c.state == "pass")
        assert passed / len(cells) == pytest.approx(column.val.score)
    # the sample model does worse with the seed: some rows differ, and each flag is right
    assert any(row.differs for row in matrix.rows)
    for row in matrix.rows:
        states = {c.state for c in row.cells if c is not None}
        assert row.differs == (len(states) > 1)
        assert row.failing == bool(states & {"fail", "error"})
    hostile = [row for row in matrix.rows if "<img" in row.inputs["text"]]
    assert hostile and hostile[0].inputs["text"].startswith("<img src=")  # data kept verbatim


def test_cells_carry_output_and_eval_feedback(sample, store) -> None:
    report = report_of(sample, store)
    failing = [c for row in report.matrix.rows for c in row.cells if c and c.state == "fail"]
    assert failing
    cell = failing[0]
    assert cell.output and cell.evals[0].name == "exact_match"
    assert "expected" in cell.evals[0].feedback and cell.evals[0].category == "wrong_answer"


def test_diff_from_seed_to_best(sample, store) -> None:
    report = report_of(sample, store)
    diff = report.diff
    assert diff is not None and not diff.identical
    sections = {s.name: s for s in diff.sections}
    assert set(sections) >= {"system", "user", "demos"}
    seed = report.prompts[report.seed_id]
    system = sections["system"]
    assert "".join(t for op, t in system.parts if op != "insert") == seed["system"]
    best = report.prompts[report.best_id]
    if best["demos"]:  # demos are shown with their rows' text
        added = "".join(t for op, t in sections["demos"].parts if op == "insert")
        assert best["demos"][0] in added and "label:" in added


def test_per_eval_breakdown_counts_failures(sample, store) -> None:
    report = report_of(sample, store)
    (row,) = report.evals
    assert row.name == "exact_match"
    for index, column in enumerate(report.matrix.columns):
        assert row.scores[index] == pytest.approx(column.val.score)
        failed = sum(1 for r in report.matrix.rows
                     if r.cells[index] is not None and r.cells[index].state == "fail")
        assert sum(row.failures[index].values()) == failed


def test_front_is_the_runs_own(sample, store) -> None:
    report = report_of(sample, store)
    recorded = {p["candidate_id"] for p in sample["result"]["pareto_front"]}
    assert {p.candidate_id for p in report.front if p.on_front} == recorded
    assert all(p.prompt_tokens > 0 for p in report.front)


def test_held_out_matrix_is_the_final_test(sample, store) -> None:
    report, result = report_of(sample, store), sample["result"]
    matrix = report.test_matrix
    assert matrix is not None and matrix.split == "test"
    assert [c.role for c in matrix.columns] == ["seed", "best"]
    assert [c.val.score for c in matrix.columns] == [result["seed"]["test"]["score"],
                                                     result["best"]["test"]["score"]]
    assert len(matrix.rows) == result["best"]["test"]["n"]
    assert all(row.inputs is not None for row in matrix.rows)
    for index, split_score in enumerate(c.val for c in matrix.columns):
        scores = [row.cells[index].score or 0.0 for row in matrix.rows]
        assert sum(scores) / len(scores) == pytest.approx(split_score.score)
    assert [row.name for row in report.test_evals] == [row.name for row in report.evals]
    assert not any("final test evaluation" in n for n in report.notes)
    assert not any("task file" in n for n in report.notes)  # it is there: inputs are shown


def test_a_run_without_test_rows_says_so(sample, tmp_path) -> None:
    import shutil
    import sqlite3

    home = tmp_path / "home"
    shutil.copytree(sample["home"], home)
    with sqlite3.connect(home / "runs.sqlite") as db:
        db.execute("DELETE FROM evaluations WHERE split='test'")  # as older versions kept it
    opened = RunStore(home / "runs.sqlite")
    try:
        report = report_of({**sample, "home": home}, opened)
    finally:
        opened.close()
    assert report.test_matrix is None and report.test_evals == ()
    assert any("final test evaluation" in n for n in report.notes)
    assert report.best["test"].score == sample["result"]["best"]["test"]["score"]


def test_json_ready_and_raw(sample, store) -> None:
    import json

    data = report_of(sample, store).to_dict()
    json.dumps(data)
    assert data["matrix"]["rows"][0]["differs"] in (True, False)
    assert data["diff"]["identical"] is False and data["live"] is False
    outputs = {c["output"] for row in data["matrix"]["rows"] for c in row["cells"] if c}
    assert HOSTILE in outputs  # the data keeps text as it is: escaping is the drawing's job


def test_unknown_run_is_a_config_error(store) -> None:
    with pytest.raises(ConfigError, match="no run 'nope'"):
        run_report(store, "nope")


def test_a_run_in_progress(tmp_path) -> None:
    """A run row that is still running: live, best so far from its evaluations, no test; once
    its process is gone (its lock free, as after kill -9), it reads as interrupted."""
    from honed.tracking.locks import hold_run

    run_store = RunStore(tmp_path / "runs.sqlite")
    lock = hold_run(tmp_path, "r1")  # as the optimizing process holds it
    seed, better = Candidate({"system": "a", "user": "{x}"}), Candidate({"system": "a b",
                                                                          "user": "{x}"})
    run_store.create_run("r1", kind="optimize", task="t", task_path=None, optimizer="auto",
                         config={"optimizer": "auto", "search": {"seed": 3, "limits": {}}})
    for cand, origin, score in ((seed, "seed", 0.0), (better, "mutation", 1.0)):
        run_store.add_candidate("r1", cand, origin=origin)
        result = {"example_id": "e1", "output": "y", "score": score, "passed": bool(score),
                  "evals": {}, "error": None, "error_kind": None}
        run_store.save_evaluation("r1", cand.id, candidate_id=cand.id, split="val", n=1,
                                  score=score, summary={"score": score, "n": 1, "ci95": [0, 1],
                                                        "per_eval": {}}, results=[result],
                                  rollouts=1)
    run_store.add_step("r1", 1, iteration=0, phase="seed", candidate_id=seed.id, split="val",
                       score=0.0, n=1, accepted=True, best_so_far=0.0, rollouts=1, cost_usd=0.0)
    report = run_report(run_store, "r1")
    assert report.live and report.seed_id == seed.id and report.best_id == better.id
    assert report.best["val"].score == 1.0 and report.best["test"] is None
    assert report.run.seed == 3 and report.budget.rollouts == 1
    assert any("in progress" in n for n in report.notes)
    assert any("task file" in n for n in report.notes)
    lock.release()
    gone = run_report(run_store, "r1")
    assert not gone.live and gone.run.status == "interrupted"
    assert any("--resume" in n for n in gone.notes)
    assert run_store.progress("r1")[0] == "interrupted"
    run_store.close()


def test_compare_a_run_with_registry_versions(sample, store) -> None:
    registry = open_registry(sample["home"], backend="local")
    report = compare_report([sample["result"]["run_id"], "sentiment@candidate", "sentiment/1"],
                            store=store, registry=registry,
                            tasks=TaskLoader([sample["folder"]]))
    run_side, candidate, seed = report.sides
    assert run_side.kind == "run" and candidate.kind == "registry"
    assert run_side.candidate_id == candidate.candidate_id  # the run registered its best
    assert candidate.test.score == sample["result"]["best"]["test"]["score"]
    assert candidate.results is not None and seed.results is None  # v1: no run tag
    assert report.diffs[0].identical and not report.diffs[1].identical
    assert report.matrix is not None and len(report.matrix.columns) == 3
    assert any("sentiment/1" in n for n in report.notes)
    with pytest.raises(ConfigError, match="two or more"):
        compare_report(["x"], store=store, registry=registry)


def test_build_report_from_specs(sample) -> None:
    home = sample["home"]
    assert isinstance(build_report(["latest"], home), RunReport)
    by_version = build_report(["sentiment@candidate"], home)  # the run that registered it
    assert isinstance(by_version, RunReport)
    assert by_version.run.id == sample["result"]["run_id"]
    assert isinstance(build_report(["latest", "sentiment/1"], home), CompareReport)
    with pytest.raises(ConfigError, match="not registered by an optimization"):
        build_report(["sentiment/1"], home)
    with pytest.raises(ConfigError, match="no run store"):
        build_report(["latest"], home.parent / "elsewhere")


def test_word_diff_marks_words() -> None:
    parts = word_diff("Classify the review.", "Classify each review, briefly.")
    assert ("delete", "the") in parts and ("insert", "each") in parts
    assert word_diff("same", "same") == (("equal", "same"),)
    diff = prompt_diff("a", {"system": "x", "user": "{t}", "demos": ["d1"]},
                       "b", {"system": "x", "user": "{t}", "demos": ["d1", "d2"]},
                       {"d2": {"text": "hi"}})
    demos = next(s for s in diff.sections if s.name == "demos")
    assert demos.changed and any(op == "insert" and "[d2] text: hi" in t
                                 for op, t in demos.parts)


@given(st.text(max_size=60), st.text(max_size=60))
def test_word_diff_rebuilds_both_texts(a: str, b: str) -> None:
    parts = word_diff(a, b)
    assert "".join(t for op, t in parts if op != "insert") == a
    assert "".join(t for op, t in parts if op != "delete") == b
    assert "".join(tokens(a)) == a


def test_runs_list_search_filter_and_sort(sample, store) -> None:
    from honed.lifecycle.report.runs import RunQuery, facets, run_rows, select_runs

    (real,) = run_rows(store)
    assert real.best_test == sample["result"]["best"]["test"]["score"]
    assert real.calls == sample["result"]["calls"] and real.status == "finished"
    others = [replace(real, id=f"r{i}", task=task, status=status, best_test=score,
                      created=real.created + i)
              for i, (task, status, score) in enumerate(
                  [("intent", "failed", None), ("intent", "finished", 0.9),
                   ("qa", "running", None)], start=1)]
    rows = [real, *others]
    assert [r.id for r in select_runs(rows, RunQuery())] == ["r3", "r2", "r1", real.id]
    assert [r.id for r in select_runs(rows, RunQuery(task="intent"))] == ["r2", "r1"]
    assert [r.id for r in select_runs(rows, RunQuery(q="QA"))] == ["r3"]
    assert [r.id for r in select_runs(rows, RunQuery(status="finished", sort="best_test",
                                                     descending=False))] == [real.id, "r2"]
    by_score = select_runs(rows, RunQuery(sort="best_test"))  # runs without one come last
    assert [r.id for r in by_score][:2] == ["r2", real.id]
    assert facets(rows)["task"] == ["intent", "qa", "sentiment"]


def test_production_from_a_real_log(tmp_path) -> None:
    from honed.lifecycle.report.production import bucket_size, production_report
    from honed.store import open_store

    now = 1_800_000_000.0
    rows = [("a", 1, now - 3600, None, 0.1), ("b", 1, now - 3000, "boom", None),
            ("c", 1, now - 1200, None, 0.3), ("d", 2, now - 600, None, 0.2),
            ("e", 2, now - 60, None, 0.4), ("old", 1, now - 40 * 86400, None, 0.1)]
    with open_store(home=tmp_path) as log:
        log.log_requests([{"id": i, "prompt": "p", "version": v, "created": t,
                           "inputs": {"text": f"<b>{i}</b>"}, "output": "yes", "error": e,
                           "latency_s": lat, "cost_usd": 0.01} for i, v, t, e, lat in rows])
        log.add_feedback("a", score=1.0)
        log.add_feedback("c", label="no")  # not the output: 0
        log.add_feedback("d", label=" YES ")  # the output: 1
        log.add_feedback("e", comment="no value")
        report = production_report(log, range_name="24h", now=now)
        everything = production_report(log, now=now)
    one, two = report.versions
    assert (one.label, one.requests, one.errors, one.feedback) == ("p/1", 3, 1, 2)
    assert one.error_rate == pytest.approx(1 / 3) and one.quality == pytest.approx(0.5)
    assert one.latency_p50_s == pytest.approx(0.1) and one.latency_p95_s == pytest.approx(0.3)
    assert (two.requests, two.quality, two.cost_per_request) == (2, 1.0, pytest.approx(0.01))
    assert report.bucket_s == bucket_size(86400) == 3600
    assert sum(b.requests for b in report.buckets) == 5
    assert everything.versions[0].requests == 4 and everything.range == "all"
    assert [f["request_id"] for f in report.feedback] == ["e", "d", "c", "a"]
    assert report.feedback[0]["inputs"] == {"text": "<b>e</b>"} and report.prompts == ("p",)
