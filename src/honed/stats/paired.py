"""Two-sided tests of paired samples: exact sign test and McNemar, exact sign-flip permutation
test, paired t-test and Wilcoxon signed-rank test.

Paired functions take ``a`` and ``b`` matched by position and test ``b - a``; the one-sample forms
(``sign_test``, ``sign_flip_test``) take the differences themselves. No p-value is ever 0 for a
finite sample: a degenerate case falls back to an exact test and says so in ``method`` and
``note``.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

TITLES = {"mcnemar": "exact McNemar", "sign": "exact sign test",
          "sign_flip": "sign-flip permutation test", "ttest": "paired t-test",
          "wilcoxon": "Wilcoxon signed-rank"}
EXACT_MAX_N = 20  # the sign-flip test enumerates all 2**n sign patterns up to this many
FLIP_RESAMPLES = 10_000  # Monte Carlo sign patterns above it
DECIMALS = 12  # differences are rounded so float noise (0.62 - 0.5 vs 0.12) does not break ties
_TOL = 1e-10  # relative tolerance when comparing permuted and observed sums
_CHUNK = 1 << 22  # Monte Carlo sign patterns are drawn in blocks of about this many entries
_UNDERFLOW = "p is below the floating-point range: reported as the smallest positive double"


@dataclass(frozen=True)
class SigTest:
    """A test's outcome. ``n``: the pairs it used (McNemar: discordant pairs; sign and Wilcoxon:
    non-zero differences). ``method``: how ``p_value`` was computed; ``note``: why, when it is
    not the test's usual way."""

    name: str
    statistic: float
    p_value: float
    n: int
    detail: Mapping[str, Any] = field(default_factory=dict)
    method: str = ""
    note: str = ""

    @property
    def title(self) -> str:
        return TITLES.get(self.name, self.name)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "title": self.title, "statistic": self.statistic,
                "p_value": self.p_value, "n": self.n, "method": self.method,
                **({"note": self.note} if self.note else {}), **self.detail}


def _p(value: Any) -> tuple[float, str]:
    """A p-value in (0, 1] and the note to add: NaN (no evidence) is 1, an underflow to 0 the
    smallest positive double."""
    p = float(value)
    if math.isnan(p):
        return 1.0, ""
    if p <= 0.0:
        return float(np.finfo(float).tiny), _UNDERFLOW
    return min(p, 1.0), ""


def _diffs(a: Sequence[float], b: Sequence[float]) -> np.ndarray:
    if len(a) != len(b):
        raise ValueError("paired samples must have the same length")
    return _as_diffs(np.asarray(b, dtype=float) - np.asarray(a, dtype=float))


def _as_diffs(diffs: Sequence[float] | np.ndarray) -> np.ndarray:
    d = np.asarray(diffs, dtype=float)
    if d.ndim != 1:
        raise ValueError(f"differences must be a 1-D sample, got shape {d.shape}")
    return np.round(d, DECIMALS)


def _nonzero(d: np.ndarray) -> np.ndarray:
    return d[~np.isclose(d, 0)]


def _binomial(k: int, n: int) -> tuple[float, str]:
    from scipy.stats import binomtest

    return _p(binomtest(k, n, 0.5).pvalue)


def mcnemar_exact(a_pass: Sequence[bool], b_pass: Sequence[bool]) -> SigTest:
    """Exact McNemar: under H0 the discordant pairs split 50/50 (two-sided binomial test)."""
    a_only = sum(1 for a, b in zip(a_pass, b_pass, strict=True) if a and not b)
    b_only = sum(1 for a, b in zip(a_pass, b_pass, strict=True) if b and not a)
    n = a_only + b_only
    detail = {"a_only": a_only, "b_only": b_only}
    if n == 0:
        return SigTest("mcnemar", 0.0, 1.0, 0, detail, "exact binomial", "no discordant pair")
    p, note = _binomial(b_only, n)
    return SigTest("mcnemar", float(min(a_only, b_only)), p, n, detail, "exact binomial", note)


def sign_test(diffs: Sequence[float]) -> SigTest:
    """Exact two-sided sign test: under H0 a non-zero difference is as likely positive as
    negative (binomial test on the signs; zero differences are dropped). The statistic is the
    number of positive differences."""
    d = _as_diffs(diffs)
    nz = _nonzero(d)
    pos, neg = int(np.sum(nz > 0)), int(np.sum(nz < 0))
    detail = {"positive": pos, "negative": neg, "zeros": int(d.size - nz.size)}
    if nz.size == 0:
        return SigTest("sign", 0.0, 1.0, 0, detail, "exact binomial", "no non-zero difference")
    p, note = _binomial(pos, pos + neg)
    return SigTest("sign", float(pos), p, pos + neg, detail, "exact binomial", note)


def _signed_sums(magnitudes: np.ndarray) -> np.ndarray:
    """The sum of ``±m`` over every one of the 2**n sign patterns."""
    sums = np.zeros(1)
    for m in magnitudes:
        sums = np.concatenate((sums + m, sums - m))
    return sums


def _monte_carlo_count(magnitudes: np.ndarray, observed: float, tol: float, resamples: int,
                       seed: int) -> int:
    rng = np.random.default_rng(seed)
    block = max(1, _CHUNK // magnitudes.size)
    count, left = 0, resamples
    while left > 0:
        k = min(block, left)
        signs = rng.integers(0, 2, (k, magnitudes.size)) * 2 - 1
        count += int(np.count_nonzero(np.abs(signs @ magnitudes) >= observed - tol))
        left -= k
    return count


def sign_flip_test(diffs: Sequence[float], *, seed: int = 0, resamples: int = FLIP_RESAMPLES,
                   exact_max_n: int = EXACT_MAX_N) -> SigTest:
    """Two-sided sign-flip permutation test of the mean difference: under H0 each difference
    is as likely to have either sign, and p is the share of sign patterns whose |mean| is at
    least the observed one. Exact: by enumeration up to ``exact_max_n`` non-zero differences,
    or for any n when they all have the same magnitude (then it is the sign test). Above:
    ``resamples`` random patterns (deterministic for ``seed``), p = (1 + hits) / (1 +
    resamples). Zero differences do not change p. The statistic is the mean difference."""
    d = _as_diffs(diffs)
    nz = _nonzero(d)
    detail = {"nonzero": int(nz.size)}
    mean = float(np.mean(d)) if d.size else 0.0
    if nz.size == 0:
        return SigTest("sign_flip", mean, 1.0, int(d.size), detail, "exact",
                       "no non-zero difference")
    magnitudes = np.abs(nz)
    observed = abs(float(nz.sum()))
    tol = _TOL * float(magnitudes.sum())
    if np.all(magnitudes == magnitudes[0]):
        pos = int(np.sum(nz > 0))
        p, note = _binomial(pos, int(nz.size))
        return SigTest("sign_flip", mean, p, int(d.size), detail,
                       "exact (equal magnitudes: the sign test)", note)
    if nz.size <= exact_max_n:
        sums = _signed_sums(magnitudes)
        p = np.count_nonzero(np.abs(sums) >= observed - tol) / sums.size
        return SigTest("sign_flip", mean, float(p), int(d.size), detail, "exact")
    hits = _monte_carlo_count(magnitudes, observed, tol, resamples, seed)
    return SigTest("sign_flip", mean, (hits + 1) / (resamples + 1), int(d.size),
                   {**detail, "resamples": resamples}, "Monte Carlo")


def paired_ttest(a: Sequence[float], b: Sequence[float]) -> SigTest:
    """Two-sided paired t-test of B - A. Fewer than two pairs, or all differences 0: p = 1.
    Constant non-zero differences (t is infinite): the exact sign-flip permutation p-value,
    2 / 2**n for n pairs, never 0."""
    d = _diffs(a, b)
    if d.size < 2 or np.allclose(d, 0):
        why = "fewer than two pairs" if d.size < 2 else "no difference"
        return SigTest("ttest", 0.0, 1.0, int(d.size), method="t distribution", note=why)
    if np.allclose(d, d[0]):
        flip = sign_flip_test(np.full(d.size, d[0]))  # 'constant' within allclose
        return SigTest("ttest", math.copysign(math.inf, d[0]), flip.p_value, int(d.size),
                       method="exact sign-flip permutation",
                       note="constant non-zero differences: t is infinite, so p is the exact "
                            "sign-flip permutation p-value")
    from scipy.stats import ttest_rel

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        res = ttest_rel(np.asarray(b, dtype=float), np.asarray(a, dtype=float))
    p, note = _p(res.pvalue)
    return SigTest("ttest", float(res.statistic), p, int(d.size), method="t distribution",
                   note=note)


def _wilcoxon_method(d: np.ndarray, nonzero: np.ndarray) -> str:
    """How scipy's ``method="auto"`` computes p for these differences."""
    ties = np.unique(np.abs(nonzero)).size < nonzero.size
    if d.size > 50:
        return "normal approximation"
    if not ties and nonzero.size == d.size:
        return "exact"
    return "exact permutation" if d.size <= 13 else "normal approximation"


def wilcoxon_signed_rank(a: Sequence[float], b: Sequence[float]) -> SigTest:
    """Two-sided Wilcoxon signed-rank test of B - A (zero differences dropped)."""
    d = _diffs(a, b)
    nonzero = _nonzero(d)
    if nonzero.size == 0:
        return SigTest("wilcoxon", 0.0, 1.0, 0, method="exact", note="no non-zero difference")
    from scipy.stats import wilcoxon

    d = np.where(np.isclose(d, 0), 0.0, d)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        res = wilcoxon(d, zero_method="wilcox")
    p, note = _p(res.pvalue)
    return SigTest("wilcoxon", float(res.statistic), p, int(nonzero.size),
                   method=_wilcoxon_method(d, nonzero), note=note)
