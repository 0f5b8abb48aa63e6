"""Metric values and per-arm statistics from logged rows."""

from __future__ import annotations

from typing import Any

import pytest

from honed.experiments import Metric, arm_stats, feedback_value, metric_values
from honed.experiments.metrics import nearest_rank


def _row(output: str | None = "Positive", *feedback: dict[str, Any], **extra: Any
         ) -> dict[str, Any]:
    items = [{"score": None, "label": None, "correction": None, "comment": None, **f}
             for f in feedback]
    return {"id": "r", "arm": "control", "user_id": None, "output": output, "error": None,
            "latency_s": 0.2, "cost_usd": 0.001, "feedback": items, **extra}


def test_a_score_counts_as_is_clipped_to_the_unit_interval() -> None:
    assert feedback_value(_row("x", {"score": 0.7})) == 0.7
    assert feedback_value(_row("x", {"score": 5.0})) == 1.0
    assert feedback_value(_row("x", {"score": -1.0})) == 0.0


def test_a_label_without_a_score_compares_with_the_output_after_normalisation() -> None:
    assert feedback_value(_row("  Positive ", {"label": "positive"})) == 1.0
    assert feedback_value(_row("Positive", {"label": "negative"})) == 0.0
    assert feedback_value(_row("Positive", {"correction": "negative"})) == 0.0


def test_the_latest_feedback_that_says_something_wins() -> None:
    row = _row("positive", {"score": 0.0}, {"label": "positive"}, {"comment": "thanks"})
    assert feedback_value(row) == 1.0


def test_requests_without_feedback_or_with_an_error_do_not_count() -> None:
    assert feedback_value(_row("x")) is None
    assert feedback_value(_row("x", {"comment": "meh"})) is None
    assert feedback_value(_row(None, {"score": 1.0}, error="boom")) is None


def test_metric_values_per_arm_for_feedback_and_for_an_eval() -> None:
    rows = [_row("a", {"score": 1.0}, id="c1"), _row("a", id="c2"),
            _row("a", {"score": 0.25}, id="t1", arm="treatment"),
            _row("a", id="t2", arm="treatment"), _row("a", {"score": 1.0}, id="x", arm=None)]
    assert metric_values(rows, Metric("feedback")) == {"control": [1.0],
                                                       "treatment": [0.25]}
    scores = {"c2": {"score": 0.5}, "t2": {"score": 1.0}}
    assert metric_values(rows, Metric("eval", "acc"), scores) == {"control": [0.5],
                                                                  "treatment": [1.0]}


def test_arm_stats_counts_units_errors_latency_and_cost() -> None:
    rows = [_row(id=f"c{i}", user_id="same", latency_s=float(i)) for i in range(1, 21)]
    rows += [_row(None, id="t1", arm="treatment", error="boom", latency_s=9.0, cost_usd=0.0),
             _row(id="t2", arm="treatment", cost_usd=0.003)]
    stats = arm_stats(rows)
    control, treatment = stats["control"], stats["treatment"]
    assert (control.requests, control.units, control.errors) == (20, 1, 0)
    assert control.latency_p95_s == 19.0  # nearest rank: the 19th of 20
    assert (treatment.requests, treatment.units, treatment.errors) == (2, 2, 1)
    assert treatment.error_rate == 0.5
    assert treatment.latency_p95_s == 0.2  # failed requests do not count for latency
    assert treatment.cost_per_request == pytest.approx(0.003)
    assert treatment.guardrail_value("error_rate") == (0.5, 2)
    assert treatment.guardrail_value("cost_per_request") == (pytest.approx(0.003), 1)
    assert arm_stats([])["treatment"].error_rate is None


def test_nearest_rank() -> None:
    assert nearest_rank([], 95) is None
    assert nearest_rank([3.0], 95) == 3.0
    assert nearest_rank([float(i) for i in range(1, 101)], 95) == 95.0


def test_per_user_one_observation_per_unit_at_its_latest_request() -> None:
    from honed.experiments.metrics import observations

    def row(rid: str, arm: str, user: str | None, score: float, created: float) -> dict:
        return _row("x", {"score": score}, id=rid, arm=arm, user_id=user, created=created)

    data = [row("1", "control", "ann", 1.0, 1.0), row("2", "treatment", "bob", 0.0, 2.0),
            row("3", "control", "ann", 0.0, 3.0), row("4", "control", None, 1.0, 4.0),
            row("5", "control", "ann", 1.0, 5.0), row("6", "treatment", None, 1.0, 6.0),
            _row("x", id="7", arm="control", user_id="cy", created=7.0)]  # no feedback
    per_user = observations(data, Metric("feedback"), unit="user")
    assert per_user == [(2.0, "treatment", 0.0), (4.0, "control", 1.0),
                        (5.0, "control", pytest.approx(2 / 3)), (6.0, "treatment", 1.0)]
    assert metric_values(data, Metric("feedback"), unit="user") == {
        "control": [1.0, pytest.approx(2 / 3)], "treatment": [0.0, 1.0]}
    per_request = metric_values(data, Metric("feedback"))  # the default: every request
    assert per_request == {"control": [1.0, 0.0, 1.0, 1.0], "treatment": [0.0, 1.0]}
