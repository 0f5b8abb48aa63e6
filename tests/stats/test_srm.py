"""Sample-ratio mismatch: the same statistic as scipy's chi-square test on known counts, an alarm
only with enough data, and bad counts or shares refused by name."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from scipy import stats

from honed.stats.srm import MIN_EXPECTED, SRM_THRESHOLD, srm_test


@pytest.mark.parametrize(("observed", "shares"), [
    ((500, 540), (0.5, 0.5)),
    ((5000, 5400), (0.5, 0.5)),
    ((880, 120), (0.9, 0.1)),
    ((310, 330, 360), (0.3, 0.3, 0.4)),
    ((1, 99), (0.02, 0.98)),
])
def test_matches_scipy_chisquare(observed: tuple[int, ...], shares: tuple[float, ...]) -> None:
    res = srm_test(observed, shares)
    total = sum(observed)
    expected = stats.chisquare(observed, [s * total for s in shares])
    assert res.chi2 == pytest.approx(expected.statistic)
    assert res.p_value == pytest.approx(expected.pvalue)
    assert res.observed == observed and res.expected_share == shares


def test_known_values_by_hand() -> None:
    even = srm_test([50, 50], [0.5, 0.5])
    assert (even.chi2, even.p_value, even.alarm) == (0.0, 1.0, False)
    off = srm_test([60, 40], [0.5, 0.5])  # (10**2 / 50) * 2 = 4 on one degree of freedom
    assert off.chi2 == pytest.approx(4.0)
    assert off.p_value == pytest.approx(math.erfc(math.sqrt(2.0)))  # P(chi2_1 > 4)
    assert not off.alarm


def test_alarm_on_a_real_mismatch_only() -> None:
    assert srm_test([5000, 5400], [0.5, 0.5]).alarm
    assert not srm_test([5000, 5100], [0.5, 0.5]).alarm
    assert srm_test([900, 100], [0.5, 0.5], threshold=0.05).alarm
    assert srm_test([9000, 1000], [0.9, 0.1]).alarm is False


def test_false_alarms_are_rare_on_a_fair_split() -> None:
    rng = np.random.default_rng(0)
    alarms = sum(srm_test(rng.multinomial(2000, [0.3, 0.7]).tolist(), [0.3, 0.7]).alarm
                 for _ in range(2000))
    assert alarms <= 2000 * SRM_THRESHOLD * 3  # expected: about 2


def test_no_alarm_without_enough_data() -> None:
    assert srm_test([12, 0], [0.5, 0.5]).alarm  # 6 expected per arm: enough, and far off
    few = srm_test([9, 0], [0.5, 0.5])  # 4.5 expected per arm: too few to judge
    assert few.p_value < 0.01 and not few.alarm and not few.enough_data
    tiny = srm_test([3, 0], [0.5, 0.5])
    assert not tiny.alarm and not tiny.enough_data and tiny.min_expected == MIN_EXPECTED
    lopsided = srm_test([30, 30], [0.95, 0.05])  # 3 units expected in the small arm
    assert lopsided.p_value < SRM_THRESHOLD and not lopsided.alarm and not lopsided.enough_data
    none = srm_test([0, 0], [0.5, 0.5])
    assert (none.chi2, none.p_value, none.alarm) == (0.0, 1.0, False)


def test_an_arm_with_share_zero() -> None:
    assert not srm_test([100, 0], [1.0, 0.0]).alarm
    stray = srm_test([100, 1], [1.0, 0.0])
    assert stray.alarm and stray.p_value == 0.0 and math.isinf(stray.chi2)
    data = json.loads(json.dumps(stray.to_dict(), allow_nan=False))
    assert data["chi2"] is None and data["alarm"] is True


def test_numpy_counts_and_serialisation() -> None:
    res = srm_test(np.array([480, 520]), np.array([0.5, 0.5]))
    assert res.observed == (480, 520) and isinstance(res.observed[0], int)
    data = json.loads(json.dumps(res.to_dict(), allow_nan=False))
    assert data["observed"] == [480, 520] and data["threshold"] == SRM_THRESHOLD
    assert data["p_value"] == pytest.approx(res.p_value)


@pytest.mark.parametrize(("observed", "shares", "culprit"), [
    ([10, -1], [0.5, 0.5], r"observed\[1\] = -1"),
    ([10, 2.5], [0.5, 0.5], r"observed\[1\] = 2.5"),
    ([True, 3], [0.5, 0.5], r"observed\[0\] = True"),
    (["7", 3], [0.5, 0.5], r"observed\[0\] = '7'"),
    ([10, 10], [0.5, 0.6], "sum to 1"),
    ([10, 10], [0.5], "2"),
    ([10, 10], [1.5, -0.5], r"expected_share\[1\]"),
    ([10], [1.0], "two arms"),
])
def test_bad_input_is_refused_by_name(observed: list, shares: list, culprit: str) -> None:
    with pytest.raises(ValueError, match=culprit):
        srm_test(observed, shares)


def test_bad_threshold() -> None:
    with pytest.raises(ValueError, match="threshold"):
        srm_test([10, 10], [0.5, 0.5], threshold=0)
