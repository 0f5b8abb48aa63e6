"""Bootstrap CIs: determinism, degenerate samples, pooling over groups, coverage by simulation."""

import numpy as np
import pytest

from honed.stats import (
    bootstrap_ci,
    paired_bootstrap_ci,
    paired_diff,
    pooled_mean,
    pooled_mean_ci,
    pooled_paired_ci,
)


def test_bootstrap_ci_is_deterministic_by_seed() -> None:
    values = np.random.default_rng(0).normal(size=50)
    assert bootstrap_ci(values, seed=3) == bootstrap_ci(values, seed=3)
    assert bootstrap_ci(values, seed=3) != bootstrap_ci(values, seed=4)
    lo, hi = bootstrap_ci(values, seed=3)
    assert lo < float(np.mean(values)) < hi


def test_degenerate_samples() -> None:
    assert bootstrap_ci([]) == (0.0, 0.0)
    assert bootstrap_ci([0.4]) == (0.4, 0.4)
    assert bootstrap_ci([0.1, 0.1, 0.1]) == (0.1, 0.1)
    assert paired_bootstrap_ci([], []) == (0.0, (0.0, 0.0))
    diff, ci = paired_bootstrap_ci([0.5, 0.25], [0.75, 0.5])
    assert (diff, ci) == (0.25, (0.25, 0.25))
    with pytest.raises(ValueError):
        paired_bootstrap_ci([0.1], [0.1, 0.2])
    with pytest.raises(ValueError):
        bootstrap_ci([0.1, 0.2], confidence=1.0)


def test_confidence_level_widens_the_interval() -> None:
    values = np.random.default_rng(1).normal(size=40)
    lo90, hi90 = bootstrap_ci(values, confidence=0.90)
    lo99, hi99 = bootstrap_ci(values, confidence=0.99)
    assert lo99 < lo90 < hi90 < hi99


def test_paired_forms_agree() -> None:
    rng = np.random.default_rng(2)
    a, b = rng.random(30), rng.random(30)
    diff, ci = paired_bootstrap_ci(a, b, seed=5)
    assert diff == pytest.approx(float(np.mean(b - a)))
    assert ci == bootstrap_ci(b - a, seed=5)
    # keyed by example id, paired in sorted key order
    keyed = paired_diff({f"e{i:02d}": x for i, x in enumerate(a)},
                        {f"e{i:02d}": x for i, x in enumerate(b)} | {"extra": 1.0}, seed=5)
    assert keyed[0] == pytest.approx(diff) and keyed[2] == 30
    assert keyed[1] == pytest.approx(ci)


def test_one_group_pools_to_the_plain_bootstrap() -> None:
    rng = np.random.default_rng(3)
    x, y = rng.normal(size=37), rng.normal(size=8)
    plain = bootstrap_ci(x, seed=4)
    assert pooled_mean_ci([x], seed=4) == pytest.approx(plain, rel=1e-12)
    # groups are drawn in order: a zero weight on a later group leaves the first one's draws
    assert pooled_mean_ci([x, y], weights=[1, 0], seed=4) == pytest.approx(plain, rel=1e-12)
    assert pooled_mean_ci([x, y], seed=4) == pooled_mean_ci([x, y], seed=4)
    assert pooled_mean_ci([x, y], seed=4) != pooled_mean_ci([x, y], seed=5)


def test_two_groups_of_different_sizes() -> None:
    small, large = [1.0, 0.0, 1.0, 1.0], [0.0] * 15 + [1.0] * 5  # means 0.75 and 0.25
    assert pooled_mean([small, large]) == pytest.approx(0.5)  # each group weighs the same
    assert pooled_mean([small, large], weights=[4, 20]) == pytest.approx(8 / 24)  # each example
    lo, hi = pooled_mean_ci([small, large], seed=0)
    assert lo < 0.5 < hi
    lo_w, hi_w = pooled_mean_ci([small, large], weights=[4, 20], seed=0)
    assert lo_w < 8 / 24 < hi_w
    # a constant group adds no spread; both constant: the estimate itself
    assert pooled_mean_ci([[0.2, 0.2], [0.6]], seed=0) == pytest.approx((0.4, 0.4))


def test_pooled_paired_ci_reports_b_minus_a() -> None:
    rng = np.random.default_rng(6)
    a1, a2 = rng.random(12), rng.random(40)
    groups = [(a1, a1 + 0.1), (a2, a2 + 0.3)]
    diff, (lo, hi) = pooled_paired_ci(groups, seed=1)
    assert diff == pytest.approx(0.2) and lo == pytest.approx(0.2) and hi == pytest.approx(0.2)
    noisy = [(a1, rng.random(12)), (a2, rng.random(40))]
    diff, ci = pooled_paired_ci(noisy, seed=1)
    mean_diffs = [float(np.mean(b - a)) for a, b in noisy]
    assert diff == pytest.approx(np.mean(mean_diffs))
    assert ci == pooled_mean_ci([b - a for a, b in noisy], seed=1)
    weighted, _ = pooled_paired_ci(noisy, weights=[12, 40], seed=1)
    assert weighted == pytest.approx((12 * mean_diffs[0] + 40 * mean_diffs[1]) / 52)


@pytest.mark.parametrize("bad", [[], [[]], [[1.0], []]])
def test_pooled_rejects_empty_groups(bad: list[list[float]]) -> None:
    with pytest.raises(ValueError):
        pooled_mean_ci(bad)


@pytest.mark.parametrize("weights", [[1.0], [1.0, -1.0], [0.0, 0.0], [1.0, float("nan")]])
def test_pooled_rejects_bad_weights(weights: list[float]) -> None:
    with pytest.raises(ValueError):
        pooled_mean([[0.1], [0.2]], weights=weights)


# coverage by simulation: a 95% interval should hold the truth about 95% of the time -------------
REPLICATES = 300


def test_bootstrap_ci_covers_the_mean_at_about_the_nominal_rate() -> None:
    rng = np.random.default_rng(11)
    hits = 0
    for i in range(REPLICATES):
        sample = rng.binomial(1, 0.3, size=60).astype(float)
        lo, hi = bootstrap_ci(sample, seed=i, resamples=1000)
        hits += lo <= 0.3 <= hi
    assert 0.89 <= hits / REPLICATES <= 0.99


def test_pooled_ci_covers_the_pooled_mean_at_about_the_nominal_rate() -> None:
    rng = np.random.default_rng(12)
    truth = (0.2 + 0.7) / 2  # two groups, 25 and 80 examples, equal weight
    hits = 0
    for i in range(REPLICATES):
        groups = [rng.normal(0.2, 0.3, size=25), rng.normal(0.7, 0.1, size=80)]
        lo, hi = pooled_mean_ci(groups, seed=i, resamples=1000)
        hits += lo <= truth <= hi
    assert 0.89 <= hits / REPLICATES <= 0.99


def test_pooled_paired_ci_covers_the_true_difference() -> None:
    rng = np.random.default_rng(13)
    hits = 0
    for i in range(REPLICATES):
        groups = []
        for n, lift in ((30, 0.05), (70, 0.15)):
            a = rng.random(n)
            groups.append((a, a + lift + rng.normal(0, 0.2, size=n)))
        _, (lo, hi) = pooled_paired_ci(groups, seed=i, resamples=1000)
        hits += lo <= 0.10 <= hi
    assert 0.89 <= hits / REPLICATES <= 0.99
