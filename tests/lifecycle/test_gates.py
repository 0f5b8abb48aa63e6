"""Quality gates: metrics, thresholds, actions, the overall outcome and its exit code."""

import asyncio

import pytest

from honed.engine.client import CallStats
from honed.engine.evaluate import run_eval
from honed.engine.results import ExampleResult, summarize
from honed.engine.runner import EvalReport
from honed.engine.session import EngineOptions
from honed.errors import ConfigError
from honed.evals.base import EvalResult
from honed.lifecycle.gates import (
    EXIT_CODES,
    GateRun,
    Thresholds,
    check_gates,
    check_report,
    run_gates,
    validate_gates,
)
from honed.task.config import load_task
from honed.task.gate_specs import GateSpec
from honed.types import Candidate

CANDIDATE = Candidate({"system": "", "user": "{text}"})


def result(i: int, score: float | None, *, error: str | None = None, cost: float = 0.0,
           latency: float = 0.0, skipped: bool = False) -> ExampleResult:
    if skipped:
        return ExampleResult(f"e{i}", error="budget", error_kind="budget")
    if score is None:
        return ExampleResult(f"e{i}", error=error or "boom", error_kind="provider",
                             latency_s=latency)
    evals = {"exact_match": EvalResult(score, score >= 1.0)}
    return ExampleResult(f"e{i}", "out", score, score >= 1.0, evals, cost_usd=cost,
                         latency_s=latency)


def report(results: list[ExampleResult], candidate: Candidate = CANDIDATE) -> EvalReport:
    return EvalReport(candidate, "eval", tuple(results), summarize(results), CallStats(), 0.0)


def scores(values: list[float | None], **kwargs) -> EvalReport:
    return report([result(i, v, **kwargs) for i, v in enumerate(values)])


def gate(metric: str, **kwargs) -> GateSpec:
    return GateSpec.model_validate({"metric": metric, **kwargs})


def test_score_gate_passes_at_the_threshold_and_fails_below() -> None:
    seventy = scores([1.0] * 7 + [0.0] * 3)
    ok = check_report(seventy, [gate("score", min=0.7)])
    assert ok.outcome == "PASS" and ok.exit_code == 0
    assert ok.results[0].value == pytest.approx(0.7) and ok.results[0].status == "pass"
    bad = check_report(seventy, [gate("score", min=0.71)])
    assert bad.outcome == "FAIL" and bad.exit_code == 1 and bad.results[0].status == "fail"


def test_outcome_is_the_worst_failing_action() -> None:
    half = scores([1.0, 0.0])
    warn = gate("score", min=0.9, action="WARN")
    fail = gate("score", min=0.8, action="FAIL")
    block = gate("error_rate", max=0.0, action="BLOCK_DEPLOY")
    assert check_report(half, [warn]).outcome == "WARN"
    assert check_report(half, [warn]).exit_code == 0
    assert check_report(half, [warn, fail]).outcome == "FAIL"
    assert check_report(half, [warn, fail, block]).outcome == "FAIL"  # block gate passes
    errored = scores([1.0, None])
    both = check_report(errored, [warn, fail, block])
    assert both.outcome == "BLOCK_DEPLOY" and both.exit_code == 3
    assert EXIT_CODES == {"PASS": 0, "WARN": 0, "FAIL": 1, "BLOCK_DEPLOY": 3}


def test_regression_is_production_minus_this_on_paired_examples() -> None:
    this = scores([1.0, 0.0, 0.0, 1.0, 0.0])
    production = report([result(i, v) for i, v in enumerate([1.0, 1.0, 1.0, 1.0, 0.0])]
                        + [result(9, 1.0)])  # e9 is not in ``this``: not paired
    out = check_report(this, [gate("regression", max=0.1)], production=production)
    value = out.results[0].value
    assert value == pytest.approx(0.4) and out.outcome == "FAIL"
    assert "5 paired" in out.results[0].detail
    assert out.production is not None and out.production["n"] == 6
    better = check_report(production, [gate("regression", max=0.0)], production=this)
    assert better.outcome == "PASS" and better.results[0].value < 0


def test_regression_without_production_is_skipped_visibly() -> None:
    out = check_report(scores([1.0]), [gate("regression", max=0.0, action="BLOCK_DEPLOY")])
    assert out.outcome == "PASS" and out.results[0].status == "skip"
    assert out.results[0].passed is None and "--against" in out.results[0].detail


def test_cost_latency_and_error_rate() -> None:
    results = [result(i, 1.0, cost=0.01, latency=float(i + 1)) for i in range(19)]
    results.append(result(19, None, latency=20.0))
    results.append(result(20, None, skipped=True))  # budget-skipped: not an attempt
    rep = report(results)
    out = check_report(rep, [gate("cost_per_example", max=0.0095),
                             gate("latency_p95_s", max=19.0),
                             gate("error_rate", max=0.05)])
    cost, latency, errors = out.results
    assert cost.value == pytest.approx(0.19 / 20) and cost.passed
    assert latency.value == 19.0 and latency.passed  # nearest rank of 1..20
    assert errors.value == pytest.approx(0.05) and errors.passed
    strict = check_report(rep, [gate("latency_p95_s", max=18.5),
                                gate("error_rate", max=0.04)])
    assert [r.status for r in strict.results] == ["fail", "fail"]


def test_eval_gate_uses_that_evals_mean() -> None:
    out = check_report(scores([1.0, 1.0, 0.0, 1.0]),
                       [gate("eval", eval="exact_match", min=0.75)])
    assert out.results[0].value == 0.75 and out.outcome == "PASS"


def test_nothing_scored_never_passes() -> None:
    out = check_report(scores([None, None]), [gate("score", min=0.0)])
    assert out.outcome == "FAIL" and out.results[0].value is None
    assert "errored" in out.results[0].detail


def test_thresholds_become_gates() -> None:
    gates = Thresholds(min_score=0.8, max_error_rate=0.1, action="block-deploy").gates()
    assert [(g.metric, g.min, g.max, g.action) for g in gates] == [
        ("score", 0.8, None, "BLOCK_DEPLOY"), ("error_rate", None, 0.1, "BLOCK_DEPLOY")]
    assert Thresholds().gates() == []
    with pytest.raises(ConfigError, match="action"):
        Thresholds(min_score=1, action="PANIC").gates()
    with pytest.raises(ConfigError, match="--against"):
        Thresholds(max_regression=0.0).gates(has_baseline=False)
    assert Thresholds(max_regression=0.0).gates()[0].metric == "regression"


def test_report_dict_has_the_table_fields() -> None:
    data = check_report(scores([1.0, 0.0]), [gate("score", min=0.4, name="quality")]).to_dict()
    assert data["outcome"] == "PASS" and data["exit_code"] == 0 and data["n"] == 2
    row = data["gates"][0]
    assert row["gate"] == "quality" and row["threshold"] == 0.4 and row["bound"] == "min"
    assert row["value"] == 0.5 and row["status"] == "pass" and row["action"] == "FAIL"


GATED = ("name: t\nmodel: fake:answer=positive\n"
         "prompt:\n  system: Classify.\n  user: '{text}'\n"
         "data:\n  train: data/train.jsonl\n  val: data/val.jsonl\n  test: data/test.jsonl\n"
         "evals:\n  - type: exact_match\n    expected: '{label}'\n"
         "gates:\n  - metric: score\n    min: 0.3\n"
         "  - metric: score\n    min: 0.5\n    action: WARN\n")


def test_gates_on_a_real_evaluation(make_task) -> None:
    task = load_task(make_task(GATED))
    run = run_eval(task)
    out = check_gates(run, task.gates)
    assert out.score == pytest.approx(0.4) and out.n == 10
    assert [r.status for r in out.results] == ["pass", "fail"] and out.outcome == "WARN"


def test_run_gates_evaluates_production_on_the_same_examples(make_task) -> None:
    task = load_task(make_task(GATED))
    perfect = Candidate({"system": "", "user": "{label}"})  # the echo model repeats it
    plan = GateRun(against=perfect, limit=6, options=EngineOptions(model="fake"))
    gates = [gate("regression", max=0.0, action="BLOCK_DEPLOY"), gate("score", min=0.0)]
    out = asyncio.run(run_gates(task, gates, plan))
    assert out.n == 6 and out.production is not None and out.production["n"] == 6
    assert out.score == 0.0 and out.production["score"] == 1.0
    assert out.results[0].value == pytest.approx(1.0) and out.outcome == "BLOCK_DEPLOY"
    same = asyncio.run(run_gates(task, gates, GateRun(candidate=perfect, against=perfect,
                                                      options=EngineOptions(model="fake"))))
    assert same.results[0].value == 0.0 and same.outcome == "PASS" and same.n == 10


def test_gate_validation(make_task) -> None:
    task = load_task(make_task(GATED))
    with pytest.raises(ConfigError, match="unknown eval 'f1'"):
        validate_gates(task, [gate("eval", eval="f1", min=0.5)])
    with pytest.raises(ConfigError, match="no quality gates"):
        validate_gates(task, [])
