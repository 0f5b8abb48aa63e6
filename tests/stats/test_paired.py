"""Paired tests: the same p-values as scipy on random data, and sane p-values on degenerate data."""

import math

import numpy as np
import pytest
from scipy import stats

from honed.stats import (
    SigTest,
    mcnemar_exact,
    paired_ttest,
    sign_flip_test,
    sign_test,
    wilcoxon_signed_rank,
)


def _mean(x: np.ndarray, axis: int) -> np.ndarray:
    return np.mean(x, axis=axis)


def scipy_sign_flip(d: np.ndarray, resamples: float = np.inf, seed: int = 0) -> float:
    return float(stats.permutation_test((d,), _mean, permutation_type="samples",
                                        vectorized=True, n_resamples=resamples,
                                        rng=np.random.default_rng(seed)).pvalue)


# the same p-values as scipy ---------------------------------------------------------------------
@pytest.mark.parametrize("seed", range(8))
def test_sign_test_matches_the_binomial_test(seed: int) -> None:
    rng = np.random.default_rng(seed)
    d = np.round(rng.normal(0.1, 0.3, size=int(rng.integers(5, 60))), 1)  # some exact zeros
    out = sign_test(d)
    pos, neg = int(np.sum(d > 0)), int(np.sum(d < 0))
    assert (out.n, out.detail["positive"], out.detail["negative"]) == (pos + neg, pos, neg)
    assert out.detail["zeros"] == int(np.sum(d == 0))
    assert out.p_value == pytest.approx(stats.binomtest(pos, pos + neg, 0.5).pvalue)


@pytest.mark.parametrize("n", [2, 3, 5, 7, 12, 16])  # scipy needs n >= 2
def test_exact_sign_flip_matches_scipy_permutation_test(n: int) -> None:
    rng = np.random.default_rng(n)
    d = rng.normal(0.2, 1.0, size=n)
    out = sign_flip_test(d)
    assert out.method.startswith("exact") and out.n == n
    assert out.statistic == pytest.approx(float(np.mean(d)))
    assert out.p_value == pytest.approx(scipy_sign_flip(d), rel=1e-9)


def test_exact_sign_flip_with_zeros_and_ties_matches_scipy() -> None:
    d = np.array([0.5, 0.5, -0.25, 0.0, 1.0, 0.25, 0.0, 0.5, -0.5, 0.75])
    out = sign_flip_test(d)
    assert out.detail["nonzero"] == 8 and out.n == 10
    assert out.p_value == pytest.approx(scipy_sign_flip(d), rel=1e-9)
    equal = np.array([0.3, -0.3, 0.3, 0.3, 0.3, 0.3, 0.3])  # equal magnitudes: the sign test
    assert sign_flip_test(equal).p_value == pytest.approx(scipy_sign_flip(equal), rel=1e-9)
    assert sign_flip_test(equal).p_value == pytest.approx(sign_test(equal).p_value)


def test_monte_carlo_sign_flip_is_close_to_scipy_and_deterministic() -> None:
    d = np.random.default_rng(21).normal(0.25, 1.0, size=30)
    out = sign_flip_test(d, resamples=20_000, seed=1)
    assert out.method == "Monte Carlo" and out.detail["resamples"] == 20_000
    assert out.p_value == pytest.approx(scipy_sign_flip(d, 100_000), abs=0.01)
    assert out == sign_flip_test(d, resamples=20_000, seed=1)
    assert out.p_value != sign_flip_test(d, resamples=20_000, seed=2).p_value
    # exact and Monte Carlo agree where both can run
    small = d[:14]
    assert sign_flip_test(small, exact_max_n=5, resamples=20_000).p_value == pytest.approx(
        sign_flip_test(small).p_value, abs=0.01)


def test_monte_carlo_p_is_never_below_one_over_resamples() -> None:
    d = np.linspace(1.0, 2.0, 40)  # every difference positive, magnitudes all different
    out = sign_flip_test(d, resamples=999)
    assert out.method == "Monte Carlo" and out.p_value == pytest.approx(1 / 1000)


@pytest.mark.parametrize("seed", range(6))
def test_paired_ttest_matches_scipy(seed: int) -> None:
    rng = np.random.default_rng(seed)
    a = rng.random(int(rng.integers(3, 80)))
    b = np.clip(a + rng.normal(0.05, 0.2, size=a.size), 0, 1)
    out = paired_ttest(a, b)
    ref = stats.ttest_rel(b, a)
    assert out.statistic == pytest.approx(ref.statistic) and out.p_value == pytest.approx(
        ref.pvalue)
    assert out.method == "t distribution" and out.note == ""


@pytest.mark.parametrize("seed", range(6))
def test_wilcoxon_matches_scipy(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = [8, 20, 45, 60, 120, 30][seed]
    a = np.round(rng.random(n), 2)
    b = np.round(np.clip(a + rng.normal(0.03, 0.1, size=n), 0, 1), 2)
    out = wilcoxon_signed_rank(a, b)
    d = np.round(b - a, 12)
    ref = stats.wilcoxon(d, zero_method="wilcox")
    assert out.statistic == pytest.approx(ref.statistic)
    assert out.p_value == pytest.approx(ref.pvalue)
    assert out.n == int(np.count_nonzero(d))


def test_wilcoxon_names_its_method() -> None:
    assert wilcoxon_signed_rank([0.0] * 5, [0.1, 0.2, -0.3, 0.4, 0.5]).method == "exact"
    assert wilcoxon_signed_rank([0.0] * 5, [0.1, 0.1, -0.3, 0.0, 0.5]).method == (
        "exact permutation")
    assert wilcoxon_signed_rank([0.0] * 60, list(np.linspace(0.01, 0.6, 60))).method == (
        "normal approximation")


def test_mcnemar_matches_the_binomial_test() -> None:
    a_pass = [True] * 3 + [False] * 11 + [True] * 20 + [False] * 6
    b_pass = [False] * 3 + [True] * 11 + [True] * 20 + [False] * 6
    out = mcnemar_exact(a_pass, b_pass)
    assert (out.detail["a_only"], out.detail["b_only"], out.n) == (3, 11, 14)
    assert out.p_value == pytest.approx(stats.binomtest(11, 14, 0.5).pvalue)
    assert out.statistic == 3.0 and out.method == "exact binomial"


# degenerate data: p in (0, 1], never 0 ----------------------------------------------------------
DEGENERATE = {
    "empty": [],
    "one pair": [0.3],
    "one zero": [0.0],
    "all zero": [0.0] * 8,
    "two equal": [0.02] * 2,
    "five equal": [0.02] * 5,
    "five equal negative": [-0.02] * 5,
    "thirty equal": [0.02] * 30,
    "float noise": [0.62 - 0.5, 0.12, 0.12, 0.12],
}


def _all_tests(d: list[float]) -> list[SigTest]:
    zeros = [0.0] * len(d)
    return [sign_test(d), sign_flip_test(d), paired_ttest(zeros, d),
            wilcoxon_signed_rank(zeros, d),
            mcnemar_exact([x < 0 for x in d], [x > 0 for x in d])]


@pytest.mark.parametrize("name", DEGENERATE)
def test_degenerate_data_gives_sane_p_values(name: str) -> None:
    for out in _all_tests(DEGENERATE[name]):
        assert 0.0 < out.p_value <= 1.0, (name, out)
        assert not math.isnan(out.statistic), (name, out)


@pytest.mark.parametrize("name", ["empty", "one pair", "one zero", "all zero"])
def test_no_evidence_gives_p_one(name: str) -> None:
    for out in _all_tests(DEGENERATE[name]):
        assert out.p_value == 1.0, (name, out)


@pytest.mark.parametrize("n", [2, 3, 5, 10, 25, 40])
def test_constant_differences_give_the_exact_sign_flip_p(n: int) -> None:
    """5 seeds, each +0.02: a t-test has sd 0 and t = inf; the honest p is 2 / 2**5."""
    exact = 2 / 2 ** n
    out = paired_ttest([0.5] * n, [0.52] * n)
    assert out.p_value == pytest.approx(exact) and out.p_value > 0
    assert out.statistic == math.inf and out.method == "exact sign-flip permutation"
    assert "constant" in out.note and "note" in out.to_dict()
    assert paired_ttest([0.52] * n, [0.5] * n).statistic == -math.inf
    assert sign_flip_test([0.02] * n).p_value == pytest.approx(exact)
    assert sign_test([0.02] * n).p_value == pytest.approx(exact)


def test_p_below_the_float_range_is_floored_not_zero() -> None:
    out = mcnemar_exact([False] * 1100, [True] * 1100)  # 2 / 2**1100 underflows
    assert 0.0 < out.p_value < 1e-300 and "floating-point" in out.note
    huge = sign_flip_test([0.1] * 1100)
    assert 0.0 < huge.p_value < 1e-300


def test_paired_samples_must_match() -> None:
    with pytest.raises(ValueError):
        paired_ttest([0.1], [0.1, 0.2])
    with pytest.raises(ValueError):
        wilcoxon_signed_rank([0.1, 0.2], [0.1])
    with pytest.raises(ValueError):
        sign_test([[0.1, 0.2]])  # type: ignore[list-item]


def test_to_dict_names_the_test_and_its_method() -> None:
    data = sign_flip_test([0.1, 0.2, -0.05]).to_dict()
    assert data["name"] == "sign_flip" and data["title"] == "sign-flip permutation test"
    assert data["method"] == "exact" and data["nonzero"] == 3 and "note" not in data
    assert data["p_value"] == pytest.approx(0.5)  # 4 of the 8 sign patterns reach |0.25|
