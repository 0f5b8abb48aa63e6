"""Sample-ratio mismatch: do the arms of an experiment hold the share of units they were
assigned? A chi-square goodness-of-fit test of the observed counts against the expected shares.

A mismatch means the assignment or the logging is broken (a bot hitting one arm, a crash that
drops one arm's rows, a cache that serves one arm), and no comparison of the arms can then be
trusted. The threshold is strict (p < 0.001 by default), as is usual for SRM checks, because the
check runs again and again over a live experiment.

Too little data: the chi-square distribution is a good approximation only when every expected
count is at least ``MIN_EXPECTED`` (5, the classic rule of thumb), so below that the p-value is
still reported but ``alarm`` stays False and ``enough_data`` says why.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

SRM_THRESHOLD = 0.001
MIN_EXPECTED = 5.0
_SHARE_TOLERANCE = 1e-6


@dataclass(frozen=True)
class SRMResult:
    """``alarm``: ``p_value < threshold`` with enough data (every expected count at least
    ``min_expected``). ``to_dict`` writes an infinite ``chi2`` (a unit in an arm of share 0) as
    None, so the dict is plain JSON."""

    observed: tuple[int, ...]
    expected_share: tuple[float, ...]
    chi2: float
    p_value: float
    alarm: bool
    threshold: float = SRM_THRESHOLD
    enough_data: bool = True
    min_expected: float = MIN_EXPECTED

    def to_dict(self) -> dict[str, Any]:
        return {"observed": list(self.observed), "expected_share": list(self.expected_share),
                "chi2": self.chi2 if math.isfinite(self.chi2) else None,
                "p_value": self.p_value, "alarm": self.alarm,
                "threshold": self.threshold, "enough_data": self.enough_data,
                "min_expected": self.min_expected}


def _counts(observed: Sequence[int]) -> tuple[int, ...]:
    counts = []
    for i, value in enumerate(observed):
        if isinstance(value, bool) or not isinstance(value, numbers.Real) \
                or not math.isfinite(value) or value != int(value) or value < 0:
            raise ValueError(f"observed[{i}] = {value!r} is not a count (a whole number >= 0)")
        counts.append(int(value))
    return tuple(counts)


def _shares(expected_share: Sequence[float], k: int) -> tuple[float, ...]:
    shares = tuple(float(s) for s in expected_share)
    if len(shares) != k:
        raise ValueError(f"expected_share has {len(shares)} entries but observed has {k}")
    for i, share in enumerate(shares):
        if not (math.isfinite(share) and share >= 0):
            raise ValueError(f"expected_share[{i}] = {share!r} is not a share in [0, 1]")
    if abs(sum(shares) - 1.0) > _SHARE_TOLERANCE:
        raise ValueError(f"expected_share must sum to 1, got {list(shares)} "
                         f"(sum {sum(shares):g})")
    return shares


def srm_test(observed: Sequence[int], expected_share: Sequence[float], *,
             threshold: float = SRM_THRESHOLD, min_expected: float = MIN_EXPECTED) -> SRMResult:
    """Chi-square goodness of fit (``scipy.stats.chisquare``) of ``observed`` counts per arm
    against ``expected_share`` (shares summing to 1). An arm with share 0 is left out when it is
    empty; a unit in it is a mismatch beyond doubt (chi2 = inf, p = 0)."""
    if not 0 < threshold < 1:
        raise ValueError(f"threshold must be between 0 and 1, got {threshold!r}")
    counts = _counts(observed)
    if len(counts) < 2:
        raise ValueError(f"a sample-ratio test needs at least two arms, got {len(counts)}")
    shares = _shares(expected_share, len(counts))
    total = sum(counts)
    if total == 0:
        return SRMResult(counts, shares, 0.0, 1.0, False, threshold, False, min_expected)
    if any(c > 0 and s == 0 for c, s in zip(counts, shares, strict=True)):
        return SRMResult(counts, shares, math.inf, 0.0, True, threshold, True, min_expected)
    kept = [(c, s) for c, s in zip(counts, shares, strict=True) if s > 0]
    norm = sum(s for _, s in kept)
    expected = [s / norm * total for _, s in kept]
    enough = min(expected) >= min_expected
    if len(kept) < 2:
        return SRMResult(counts, shares, 0.0, 1.0, False, threshold, enough, min_expected)
    from scipy.stats import chisquare

    res = chisquare([c for c, _ in kept], expected)
    chi2, p = float(res.statistic), float(res.pvalue)
    return SRMResult(counts, shares, chi2, p, enough and p < threshold, threshold, enough,
                     min_expected)
