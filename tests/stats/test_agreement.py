"""Agreement statistics: the same values as scikit-learn, scipy and the krippendorff package on
the same data; undefined cases are NaN; bootstrap CIs are deterministic, resample items, and
cover the truth by simulation."""

from __future__ import annotations

import math
import warnings

import krippendorff
import numpy as np
import pytest
from scipy.stats import spearmanr
from sklearn.metrics import cohen_kappa_score
from sklearn.metrics import confusion_matrix as sk_confusion

from honed.stats.agreement import (
    accuracy,
    agreement,
    cohen_kappa,
    confusion_matrix,
    kappa_ci,
    krippendorff_alpha,
    label_order,
    paired_kappa_diff,
    spearman_rho,
)


def noisy_pair(rng: np.random.Generator, k: int, n: int, agree: float) -> tuple[list, list]:
    """Two raters on a k-point scale: the second copies the first with probability ``agree``."""
    a = rng.integers(0, k, n)
    b = np.where(rng.random(n) < agree, a, rng.integers(0, k, n))
    return a.tolist(), b.tolist()


@pytest.mark.parametrize("weights", [None, "linear", "quadratic"])
def test_kappa_matches_sklearn(weights: str | None) -> None:
    rng = np.random.default_rng(7)
    for _ in range(60):
        k, n = int(rng.integers(2, 6)), int(rng.integers(4, 80))
        a, b = noisy_pair(rng, k, n, float(rng.random()))
        labels = list(range(k))
        ours = cohen_kappa(a, b, labels=labels, weights=weights)  # type: ignore[arg-type]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            theirs = cohen_kappa_score(a, b, labels=labels, weights=weights)
        assert (math.isnan(ours) and math.isnan(theirs)) or ours == pytest.approx(theirs,
                                                                               abs=1e-12)


def test_kappa_on_text_labels_follows_the_given_order() -> None:
    human = ["bad", "ok", "good", "good", "ok", "bad", "good", "ok"]
    judge = ["ok", "ok", "good", "ok", "good", "bad", "good", "bad"]
    order = ["bad", "ok", "good"]
    for weights in (None, "linear", "quadratic"):
        assert cohen_kappa(human, judge, labels=order, weights=weights) == pytest.approx(
            cohen_kappa_score(human, judge, labels=order, weights=weights))
    # the order matters for weighted kappa only
    assert cohen_kappa(human, judge, labels=["good", "bad", "ok"], weights="quadratic") != \
        pytest.approx(cohen_kappa(human, judge, labels=order, weights="quadratic"))
    assert cohen_kappa(human, judge, labels=["good", "bad", "ok"]) == pytest.approx(
        cohen_kappa(human, judge, labels=order))


def test_confusion_rows_are_people_and_match_sklearn() -> None:
    human, judge = ["pass", "pass", "fail", "fail", "fail"], ["pass", "fail", "fail", "pass",
                                                              "pass"]
    ours = confusion_matrix(human, judge, ["fail", "pass"])
    assert ours.tolist() == [[1, 2], [1, 1]]
    assert ours.tolist() == sk_confusion(human, judge, labels=["fail", "pass"]).tolist()
    assert accuracy(human, judge) == pytest.approx(0.4)


def test_undefined_statistics_are_nan() -> None:
    assert math.isnan(cohen_kappa(["a", "a"], ["a", "a"]))
    assert cohen_kappa(["a", "a"], ["b", "b"]) == 0.0  # constant and different: no agreement
    assert math.isnan(spearman_rho([1, 1, 1], [1, 2, 3]))
    assert math.isnan(spearman_rho([1], [2]))
    assert math.isnan(krippendorff_alpha([[1, 1], [1, 1]]))  # one value: nothing to compare
    assert math.isnan(krippendorff_alpha([[1, None], [None, 2]]))  # no unit rated twice
    assert kappa_ci(["a", "a"], ["a", "a"]) != kappa_ci(["a", "b"], ["a", "b"])
    assert all(math.isnan(x) for x in kappa_ci(["a", "a"], ["a", "a"]))
    with pytest.raises(ValueError, match="same length"):
        cohen_kappa(["a"], ["a", "b"])
    with pytest.raises(ValueError, match="not among the labels"):
        label_order(["a", "c"], labels=["a", "b"])


def test_spearman_matches_scipy_with_ties() -> None:
    rng = np.random.default_rng(3)
    for _ in range(40):
        a, b = noisy_pair(rng, int(rng.integers(2, 7)), int(rng.integers(3, 60)), 0.5)
        ours, theirs = spearman_rho(a, b), spearmanr(a, b).statistic
        assert (math.isnan(ours) and math.isnan(theirs)) or ours == pytest.approx(theirs)


@pytest.mark.parametrize("level", ["nominal", "ordinal", "interval", "ratio"])
def test_alpha_matches_the_krippendorff_package(level: str) -> None:
    rng = np.random.default_rng(11)
    for _ in range(40):
        k, raters, units = int(rng.integers(2, 6)), int(rng.integers(2, 5)), int(rng.integers(
            3, 40))
        data = rng.integers(1, k + 1, (raters, units)).astype(float)
        data[rng.random((raters, units)) < 0.3] = np.nan
        try:
            theirs = krippendorff.alpha(reliability_data=data, level_of_measurement=level)
        except ValueError:  # fewer than two values: the package refuses, we say NaN
            assert math.isnan(krippendorff_alpha(data.tolist(), level=level))  # type: ignore[arg-type]
            continue
        ours = krippendorff_alpha(data.tolist(), level=level)  # type: ignore[arg-type]
        assert (math.isnan(ours) and math.isnan(theirs)) or ours == pytest.approx(theirs)


def test_alpha_on_text_labels_with_an_ordered_domain() -> None:
    """The package's own ordinal example with words (alpha 0.815), None for missing."""
    words = ["very low", "low", "mid", "high", "very high"]
    data = [["very low", "low", "mid", "mid", "low", "very low", "high", "very low", "low", None,
             None, None],
            ["very low", "low", "mid", "mid", "low", "low", "high", "very low", "low",
             "very high", None, "mid"],
            [None, "mid", "mid", "mid", "low", "mid", "high", "low", "low", "very high",
             "very low", None],
            ["very low", "low", "mid", "mid", "low", "high", "high", "very low", "low",
             "very high", "very low", None]]
    assert krippendorff_alpha(data, level="ordinal", domain=words) == pytest.approx(0.815,
                                                                                   abs=5e-4)
    as_array = np.array([[np.nan if v is None else words.index(v) for v in r] for r in data])
    assert krippendorff_alpha(data, level="nominal") == pytest.approx(
        krippendorff.alpha(reliability_data=as_array, level_of_measurement="nominal"))


def test_kappa_ci_is_deterministic_and_brackets_the_estimate() -> None:
    a, b = noisy_pair(np.random.default_rng(0), 3, 120, 0.7)
    ci = kappa_ci(a, b, seed=5)
    assert ci == kappa_ci(a, b, seed=5) and ci != kappa_ci(a, b, seed=6)
    assert ci[0] < cohen_kappa(a, b) < ci[1]
    wide = kappa_ci(a, b, seed=5, confidence=0.99)
    assert wide[0] <= ci[0] and wide[1] >= ci[1]
    assert kappa_ci(["x", "y"] * 10, ["x", "y"] * 10) == (1.0, 1.0)


def test_kappa_ci_resamples_items_when_rows_share_one() -> None:
    """Three people rating each item: rows of an item move together, so the interval is wider
    than if the rows were independent."""
    rng = np.random.default_rng(1)
    truth = rng.integers(0, 2, 40)
    judge = np.where(rng.random(40) < 0.75, truth, 1 - truth)
    human = np.repeat(truth, 3).tolist()
    judged = np.repeat(judge, 3).tolist()
    items = np.repeat(np.arange(40), 3).tolist()
    rows_lo, rows_hi = kappa_ci(human, judged, seed=2)
    items_lo, items_hi = kappa_ci(human, judged, groups=items, seed=2)
    assert items_hi - items_lo > 1.3 * (rows_hi - rows_lo)


def test_kappa_ci_covers_the_truth_by_simulation() -> None:
    rng = np.random.default_rng(2024)
    big = noisy_pair(rng, 3, 200_000, 0.6)
    truth = cohen_kappa(*big)
    hits = 0
    for i in range(150):
        a, b = noisy_pair(rng, 3, 80, 0.6)
        lo, hi = kappa_ci(a, b, seed=i, resamples=1000)
        hits += lo <= truth <= hi
    assert 0.88 <= hits / 150 <= 0.99


def test_paired_kappa_difference() -> None:
    rng = np.random.default_rng(4)
    human, before = noisy_pair(rng, 2, 60, 0.1)
    after = [h if rng.random() < 0.9 else 1 - h for h in human]
    diff, (lo, hi) = paired_kappa_diff(human, before, after, seed=1)
    assert diff == pytest.approx(cohen_kappa(human, after) - cohen_kappa(human, before))
    assert 0 < lo < diff < hi
    same, ci = paired_kappa_diff(human, after, after)
    assert same == 0.0 and ci == (0.0, 0.0)


def test_agreement_summary_on_a_numeric_scale() -> None:
    human = [1, 2, 3, 4, 5, 3, 2, 4, 5, 1, 3, 4]
    judge = [2, 2, 4, 5, 5, 4, 3, 4, 5, 2, 4, 5]  # lenient: a point higher most of the time
    result = agreement(human, judge, numeric=True)
    assert result.labels == (1, 2, 3, 4, 5) and result.n == 12
    assert result.kappa == pytest.approx(cohen_kappa_score(human, judge))
    assert result.kappa_quadratic == pytest.approx(cohen_kappa_score(human, judge,
                                                                     weights="quadratic"))
    assert result.kappa_linear == pytest.approx(cohen_kappa_score(human, judge,
                                                                  weights="linear"))
    assert result.spearman == pytest.approx(spearmanr(human, judge).statistic)
    assert result.bias == pytest.approx(np.mean(judge) - np.mean(human))
    assert result.bias_ci is not None and result.bias_ci[0] > 0  # the lenience is significant
    assert result.shares["5"] == (pytest.approx(2 / 12), pytest.approx(4 / 12))
    assert result.alpha is None and result.to_dict()["alpha"] is None


def test_agreement_with_several_raters_reports_alpha() -> None:
    items = ["a", "a", "b", "b", "c", "c", "d", "d", "e", "e"]
    raters = ["ann", "bob"] * 5
    human = ["pass", "pass", "fail", "pass", "fail", "fail", "pass", "pass", "fail", "fail"]
    judge = ["pass", "pass", "pass", "pass", "fail", "fail", "pass", "pass", "pass", "pass"]
    result = agreement(human, judge, items=items, raters=raters)
    people = [["pass", "fail", "fail", "pass", "fail"], ["pass", "pass", "fail", "pass", "fail"]]
    with_judge = [*people, ["pass", "pass", "fail", "pass", "pass"]]

    def package(rows: list[list[str]]) -> float:
        coded = np.array([[0.0 if v == "fail" else 1.0 for v in r] for r in rows])
        return float(krippendorff.alpha(reliability_data=coded, level_of_measurement="nominal"))

    assert result.alpha == pytest.approx(package(people))
    assert result.alpha_with_judge == pytest.approx(package(with_judge))
    assert (result.items, result.raters) == (5, 2)
    assert result.kappa_linear is None and result.spearman is None  # labels, not a scale
    data = result.to_dict()
    assert data["confusion"] == [[2, 3], [0, 5]] and data["shares"]["pass"]["judge"] == 0.8
