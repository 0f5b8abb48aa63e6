from honed.engine.results import ExampleResult, bootstrap_ci, nearest_rank, paired_diff, summarize
from honed.evals.base import EvalResult


def test_bootstrap_ci_is_deterministic_and_brackets_the_mean() -> None:
    values = [1.0] * 30 + [0.0] * 70
    lo, hi = bootstrap_ci(values, seed=1)
    assert (lo, hi) == bootstrap_ci(values, seed=1)
    assert lo < 0.3 < hi and lo > 0.15 and hi < 0.45


def test_degenerate_ci() -> None:
    assert bootstrap_ci([]) == (0.0, 0.0)
    assert bootstrap_ci([1.0, 1.0]) == (1.0, 1.0)


def test_nearest_rank_percentiles() -> None:
    values = [float(v) for v in range(1, 11)]
    assert nearest_rank(values, 50) == 5.0
    assert nearest_rank(values, 95) == 10.0
    assert nearest_rank([0.3], 95) == 0.3


def test_paired_diff_uses_common_examples() -> None:
    diff, (lo, hi), n = paired_diff({"a": 0, "b": 0, "c": 1}, {"a": 1, "b": 1, "d": 0})
    assert n == 2 and diff == 1.0 and lo == hi == 1.0


def test_summary_separates_errors_and_skips() -> None:
    ok = EvalResult.of(True)
    results = [
        ExampleResult("1", "x", 1.0, True, {"em": ok}, latency_s=0.1),
        ExampleResult("2", "y", 0.0, False, {"em": EvalResult.of(False)}, latency_s=0.3),
        ExampleResult("3", error="TransportError: boom", error_kind="provider"),
        ExampleResult("4", error="budget", error_kind="budget"),
    ]
    s = summarize(results)
    # the error counts as a failure (in n, score 0); only the budget skip is left out
    assert (s.score, s.n, s.n_total, s.errors, s.skipped) == (1 / 3, 3, 4, 1, 1)
    assert s.per_eval == {"em": 1 / 3} and s.latency_p95_s == 0.3
    assert s.pass_rate == 1 / 3


def test_a_prompt_that_makes_the_model_fail_never_scores_higher() -> None:
    right = ExampleResult("1", "x", 1.0, True, {"em": EvalResult.of(True)})
    wrong = ExampleResult("2", "y", 0.0, False, {"em": EvalResult.of(False)})
    failed = ExampleResult("2", error="TransportError: boom", error_kind="provider")
    assert summarize([right, failed]).score == summarize([right, wrong]).score == 0.5
    assert failed.value == 0.0 and ExampleResult("3", error_kind="budget").value is None
