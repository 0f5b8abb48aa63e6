"""Offline A/B tests: pure statistics on constructed data with known answers, then end to end."""

import asyncio

import pytest
from scipy import stats

from honed.engine.results import ExampleResult
from honed.engine.session import EngineOptions
from honed.errors import ConfigError
from honed.evals.base import EvalResult
from honed.lifecycle.abtest import (
    ABPlan,
    abtest_specs,
    compare,
    mcnemar_exact,
    paired_ttest,
    run_abtest,
    variant_stats,
    wilcoxon_signed_rank,
)
from honed.lifecycle.registry_memory import MemoryRegistry
from honed.task.config import load_task
from honed.types import Candidate


def res(i: int, score: float | None, *, threshold: float = 1.0, latency: float = 0.0,
        cost: float = 0.0) -> ExampleResult:
    if score is None:
        return ExampleResult(f"e{i}", error="boom", error_kind="provider")
    passed = score >= threshold
    return ExampleResult(f"e{i}", "out", score, passed, {"m": EvalResult(score, passed)},
                         latency_s=latency, cost_usd=cost)


def variant(values: list[float | None], **kwargs) -> list[ExampleResult]:
    return [res(i, v, **kwargs) for i, v in enumerate(values)]


# McNemar on pass/fail --------------------------------------------------------------------------
def test_thirty_discordant_pairs_all_for_b_make_b_win() -> None:
    a = variant([0.0] * 30 + [1.0] * 10 + [0.0] * 10)
    b = variant([1.0] * 30 + [1.0] * 10 + [0.0] * 10)
    out = compare(a, b)
    assert out.chosen == "mcnemar" and out.winner == "B"
    test = out.tests["mcnemar"]
    assert (test.detail["a_only"], test.detail["b_only"], test.n) == (0, 30, 30)
    assert test.p_value == pytest.approx(2 * 0.5 ** 30)
    assert out.diff == pytest.approx(0.6) and out.n_paired == 50
    assert out.verdict.startswith("B wins") and "McNemar" in out.verdict


def test_balanced_discordant_pairs_name_no_winner() -> None:
    a = variant([1.0] * 15 + [0.0] * 15 + [1.0] * 5)
    b = variant([0.0] * 15 + [1.0] * 15 + [1.0] * 5)
    out = compare(a, b)
    assert out.winner is None and out.p_value == pytest.approx(1.0)
    assert out.verdict.startswith("no significant difference")


def test_identical_variants_have_p_one_under_every_test() -> None:
    a = variant([1.0, 0.0, 1.0, 1.0, 0.0, 1.0])
    out = compare(a, list(a))
    assert out.winner is None and out.diff == 0.0 and out.ci95 == (0.0, 0.0)
    assert {name: t.p_value for name, t in out.tests.items()} == {
        "mcnemar": 1.0, "ttest": 1.0, "wilcoxon": 1.0}
    graded = variant([0.2, 0.5, 0.9])
    assert compare(graded, list(graded)).p_value == 1.0


def test_a_can_win_too() -> None:
    out = compare(variant([1.0] * 12), variant([0.0] * 12))
    assert out.winner == "A" and out.diff == -1.0


def test_small_samples_are_not_significant() -> None:
    out = compare(variant([0.0] * 5), variant([1.0] * 5))
    assert out.tests["mcnemar"].p_value == pytest.approx(0.0625) and out.winner is None


def test_mcnemar_matches_the_binomial_test() -> None:
    a_pass = [True] * 2 + [False] * 8 + [True] * 20
    b_pass = [False] * 2 + [True] * 8 + [True] * 20
    test = mcnemar_exact(a_pass, b_pass)
    assert test.p_value == pytest.approx(stats.binomtest(8, 10, 0.5).pvalue)
    assert test.p_value == pytest.approx(0.109375)


# graded scores ---------------------------------------------------------------------------------
A_GRADED = [0.31, 0.52, 0.44, 0.61, 0.27, 0.58, 0.49, 0.36, 0.55, 0.42,
            0.47, 0.33, 0.62, 0.51, 0.39, 0.45, 0.57, 0.29, 0.53, 0.41]
LIFT = [0.12, 0.08, 0.15, 0.05, 0.11, 0.09, 0.14, 0.07, 0.1, 0.13,
        0.06, 0.12, 0.08, 0.11, 0.09, 0.1, 0.07, 0.14, 0.05, 0.12]


def test_graded_scores_use_wilcoxon_and_find_a_consistent_lift() -> None:
    b = [x + d for x, d in zip(A_GRADED, LIFT, strict=True)]
    out = compare(variant(A_GRADED, threshold=0.5), variant(b, threshold=0.5))
    assert out.chosen == "wilcoxon" and out.winner == "B"
    assert out.tests["wilcoxon"].p_value == pytest.approx(stats.wilcoxon(LIFT).pvalue)
    assert out.tests["ttest"].p_value == pytest.approx(stats.ttest_rel(b, A_GRADED).pvalue)
    assert out.diff == pytest.approx(sum(LIFT) / 20)
    assert out.ci95[0] > 0


def test_graded_noise_names_no_winner() -> None:
    noise = [0.1, -0.1] * 10
    b = [x + d for x, d in zip(A_GRADED, noise, strict=True)]
    for test in ("auto", "ttest", "wilcoxon"):
        out = compare(variant(A_GRADED), variant(b), test=test)
        assert out.winner is None and out.p_value > 0.5, test


def test_pure_tests_on_edge_cases() -> None:
    assert paired_ttest([0.1, 0.2], [0.1, 0.2]).p_value == 1.0
    constant = paired_ttest([0.1, 0.2, 0.3], [0.3, 0.4, 0.5])  # t is infinite, p is not 0
    assert constant.p_value == pytest.approx(2 / 2 ** 3) and constant.statistic > 0
    assert constant.method == "exact sign-flip permutation"
    assert paired_ttest([0.5], [0.9]).p_value == 1.0  # one pair says nothing
    assert wilcoxon_signed_rank([0.5, 0.5], [0.5, 0.5]).n == 0
    with pytest.raises(ValueError):
        paired_ttest([0.1], [0.1, 0.2])


def test_chosen_test_and_alpha() -> None:
    a, b = variant([0.0] * 8), variant([1.0] * 8)
    assert compare(a, b, alpha=0.01).winner == "B"  # p = 2/256
    assert compare(a, b, alpha=0.005).winner is None
    assert compare(a, b, test="ttest").chosen == "ttest"
    with pytest.raises(ConfigError, match="--alpha"):
        compare(a, b, alpha=1.5)
    with pytest.raises(ConfigError, match="--test"):
        compare(a, b, test="chi2")


def test_errored_examples_count_as_failures_in_the_pairing() -> None:
    a = variant([1.0, 0.0, None, 1.0])
    b = variant([1.0, 1.0, 1.0, None])
    out = compare(a, b)  # an error is a 0: a variant that fails on a row never gains by it
    assert out.n_paired == 4 and out.diff == 0.25
    errors = compare(variant([None, None]), variant([1.0, 1.0]))
    assert errors.n_paired == 2 and errors.diff == 1.0


def test_variant_stats_report_cost_and_nearest_rank_latency() -> None:
    results = [res(i, 1.0, latency=float(i + 1), cost=0.002) for i in range(20)]
    results.append(res(20, None))
    v = variant_stats("A", "abc", results)
    assert v.n == 21 and v.n_total == 21 and v.errors == 1  # the error is in n, as a 0
    assert v.latency_p50_s == 10.0 and v.latency_p95_s == 19.0
    assert v.cost_usd == pytest.approx(0.04) and v.cost_per_example_usd == pytest.approx(0.04 / 21)
    assert v.score == pytest.approx(20 / 21)


# end to end ------------------------------------------------------------------------------------
TEXT = Candidate({"system": "", "user": "{text}"})  # the echo model repeats the text: wrong
LABEL = Candidate({"system": "", "user": "{label}"})  # ... or the label: right
ECHO = ABPlan(options=EngineOptions(model="fake"))


def test_run_abtest_on_the_same_examples(make_task) -> None:
    task = load_task(make_task())
    out = asyncio.run(run_abtest(task, TEXT, LABEL, ECHO))
    assert out.a.n == out.b.n == out.comparison.n_paired == 10
    assert out.a.score == 0.0 and out.b.score == 1.0 and out.winner == "B"
    assert out.comparison.p_value == pytest.approx(2 * 0.5 ** 10)
    data = out.to_dict()
    assert data["winner"] == "B" and data["test"] == "mcnemar" and data["model"] == "fake"
    for key in ("score", "ci95", "latency_p50_s", "latency_p95_s", "cost_per_example_usd"):
        assert key in data["a"] and key in data["b"]
    same = asyncio.run(run_abtest(task, LABEL, LABEL, ECHO))
    assert same.winner is None and same.comparison.p_value == 1.0
    assert "same prompt" in same.notes[0]
    limited = asyncio.run(run_abtest(task, TEXT, LABEL, ABPlan(limit=4, options=ECHO.options)))
    assert limited.comparison.n_paired == 4 and limited.winner is None  # p = 0.125


def test_abtest_specs_resolve_registry_files_and_a_base_task(make_task, tmp_path) -> None:
    path = make_task()
    registry = MemoryRegistry()
    registry.register("t", TEXT)
    registry.register("t", LABEL)
    registry.set_alias("t", "production", 1)
    task = load_task(path)
    out = asyncio.run(abtest_specs("t@production", "t/2", ECHO, task=task, registry=registry))
    assert out.winner == "B" and out.sources["A"]["version"] == 1
    assert out.sources["B"]["kind"] == "registry"
    mixed = asyncio.run(abtest_specs(str(path), "t/2", ECHO, registry=registry))
    assert mixed.task == "t" and mixed.a.score == 0.0 and mixed.winner == "B"
    with pytest.raises(ConfigError, match="--task"):
        asyncio.run(abtest_specs("t@production", "t/2", ECHO, registry=registry))
