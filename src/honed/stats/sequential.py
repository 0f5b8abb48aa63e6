"""A sequential A/B test that is safe to peek at: the normal-mixture mSPRT with always-valid
p-values and confidence sequences for the difference of two means of a metric in [0, 1].

Method: Johari, Pekelis and Walsh, "Always valid inference: continuous monitoring of A/B tests",
Operations Research 70(3), 2022 (arXiv:1512.04922): the mixture sequential
probability ratio test on the difference of means ``theta = mean_treatment - mean_control``,
with a normal mixing distribution ``N(0, tau**2)`` over ``theta`` and a plug-in variance. After
each observation, with ``d`` the observed difference and ``V = var_c / n_c + var_t / n_t`` its
estimated variance, the mixture likelihood ratio against ``theta = 0`` is

    Lambda = sqrt(V / (V + tau**2)) * exp(d**2 * tau**2 / (2 * V * (V + tau**2)))

Under H0, ``Lambda`` is (asymptotically) a nonnegative martingale with mean 1, so by Ville's
inequality ``P(sup_t Lambda_t >= 1 / alpha) <= alpha``: the p-value ``min(1, min_t 1/Lambda_t)``
is valid at any stopping time, however often it is looked at. Inverting the same test for every
``theta`` gives the confidence sequence ``d +- halfwidth(V)``; the running intersection of those
intervals covers the true difference at all times at once with probability ``1 - alpha``.

The variance plug-in is each arm's sample variance, shrunk toward the largest variance a [0, 1]
metric can have (1/4) with ``PRIOR_WEIGHT`` pseudo-observations, so an arm of constant values
(all passes) never has a zero variance. Nothing is tested until both arms have ``min_n``
observations. ``benchmarks/sequential_sim.py`` checks the false-positive rate and power by
simulation; ``docs/online-statistics.md`` explains the defaults.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

DEFAULT_TAU = 0.05  # mixture scale: effects of a few points on a [0, 1] metric (see the docs)
PRIOR_WEIGHT = 1.0  # pseudo-observations at the worst-case variance in each arm's variance
WORST_VARIANCE = 0.25  # the largest variance of a variable in [0, 1]
ARMS = ("control", "treatment")
CONTINUE, TREATMENT_BETTER, CONTROL_BETTER = "continue", "treatment_better", "control_better"
_TINY = float(np.finfo(float).tiny)
_STATE_KEYS = ("alpha", "tau", "min_n", "n_control", "sum_control", "sumsq_control",
               "n_treatment", "sum_treatment", "sumsq_treatment", "p_value", "ci_low", "ci_high")


@dataclass(frozen=True)
class SequentialResult:
    """The test on all data so far. ``p_value`` is the running minimum of ``1 / Lambda`` (1.0
    until both arms have ``min_n`` observations); ``ci`` the running intersection of the
    confidence sequence for ``diff`` (``(-1.0, 1.0)`` before that). An empty arm has mean 0.0."""

    n_control: int
    n_treatment: int
    mean_control: float
    mean_treatment: float
    diff: float
    p_value: float
    ci: tuple[float, float]
    alpha: float
    tau: float = DEFAULT_TAU
    min_n: int = 20

    @property
    def decision(self) -> str:
        """``continue`` until ``p_value <= alpha``, then the side of zero the interval lies on
        (the sign of ``diff`` should the interval still hold zero, which only a non-stationary
        stream can cause)."""
        if self.p_value > self.alpha:
            return CONTINUE
        low, high = self.ci
        if low > 0 or (high >= 0 and self.diff > 0):
            return TREATMENT_BETTER
        return CONTROL_BETTER

    def to_dict(self) -> dict[str, Any]:
        return {"n_control": self.n_control, "n_treatment": self.n_treatment,
                "mean_control": self.mean_control, "mean_treatment": self.mean_treatment,
                "diff": self.diff, "p_value": self.p_value, "ci": list(self.ci),
                "alpha": self.alpha, "tau": self.tau, "min_n": self.min_n,
                "decision": self.decision, "method": "mSPRT (normal mixture)"}


def _settings(alpha: float, tau: float | None, min_n: int) -> tuple[float, float, int]:
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be between 0 and 1, got {alpha!r}")
    tau = DEFAULT_TAU if tau is None else tau
    if not (math.isfinite(tau) and tau > 0):
        raise ValueError(f"tau must be a positive number, got {tau!r}")
    if isinstance(min_n, bool) or int(min_n) != min_n or min_n < 1:
        raise ValueError(f"min_n must be a positive integer, got {min_n!r}")
    return float(alpha), float(tau), int(min_n)


def check_value(value: float, where: str = "value") -> float:
    """``value`` as a float, or a ValueError naming it when it is not a number in [0, 1]."""
    try:
        x = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{where} = {value!r} is not a number in [0, 1]") from None
    if not 0.0 <= x <= 1.0:  # NaN fails too
        raise ValueError(f"{where} = {value!r} is outside [0, 1]")
    return x


def _as_values(values: Sequence[float], arm: str) -> np.ndarray:
    try:
        arr = np.asarray(values, dtype=float)
    except (TypeError, ValueError):
        bad = next(v for v in values if not _is_number(v))
        raise ValueError(f"{arm} has {bad!r}, not a number in [0, 1]") from None
    if arr.ndim != 1:
        raise ValueError(f"{arm} must be a flat sequence of numbers, got shape {arr.shape}")
    outside = np.flatnonzero(~((arr >= 0.0) & (arr <= 1.0)))
    if outside.size:
        i = int(outside[0])
        raise ValueError(f"{arm}[{i}] = {values[i]!r} is outside [0, 1]")
    return arr


def _is_number(value: Any) -> bool:
    try:
        float(value)
    except (TypeError, ValueError):
        return False
    return True


def plugin_variance(n: Any, total: Any, total_sq: Any) -> Any:
    """Each arm's variance estimate from its count, sum and sum of squares (floats or arrays):
    the sum of squared deviations plus ``PRIOR_WEIGHT`` pseudo-observations at 1/4, over
    ``n + PRIOR_WEIGHT``."""
    n = np.asarray(n, dtype=float)
    safe_n = np.maximum(n, 1.0)
    m2 = np.maximum(np.asarray(total_sq, dtype=float) - np.asarray(total, dtype=float) ** 2
                    / safe_n, 0.0)
    return (m2 + PRIOR_WEIGHT * WORST_VARIANCE) / (n + PRIOR_WEIGHT)


def log_mixture_lr(diff: Any, var: Any, tau: float) -> Any:
    """``log Lambda`` of the normal-mixture SPRT for an observed difference ``diff`` with
    variance ``var`` (floats or arrays)."""
    t2 = tau * tau
    return 0.5 * np.log(var / (var + t2)) + diff * diff * t2 / (2.0 * var * (var + t2))


def halfwidth(var: Any, tau: float, alpha: float) -> Any:
    """Half the width of the ``1 - alpha`` confidence sequence at variance ``var``: every
    ``theta`` whose mixture likelihood ratio stays below ``1 / alpha``."""
    t2 = tau * tau
    return np.sqrt(2.0 * var * (var + t2) / t2
                   * (math.log(1.0 / alpha) + 0.5 * np.log((var + t2) / var)))


def moments(values: np.ndarray, is_treatment: np.ndarray) -> tuple[np.ndarray, ...]:
    """After each observation of one or many streams (time on the last axis): ``(n_control,
    mean_control, var_control, n_treatment, mean_treatment, var_treatment)``."""
    t = np.broadcast_to(np.asarray(is_treatment, dtype=bool), values.shape)
    out: list[np.ndarray] = []
    for mask in (~t, t):
        x = np.where(mask, values, 0.0)
        n = np.cumsum(mask, axis=-1, dtype=float)
        total, total_sq = np.cumsum(x, axis=-1), np.cumsum(x * x, axis=-1)
        out += [n, total / np.maximum(n, 1.0), plugin_variance(n, total, total_sq)]
    return tuple(out)


def stream_log_lr(values: np.ndarray, is_treatment: np.ndarray, *, tau: float = DEFAULT_TAU,
                  min_n: int = 20) -> np.ndarray:
    """``log Lambda`` after each observation of one or many streams (time on the last axis),
    ``-inf`` until both arms have ``min_n`` observations. The vectorised form of the test, for
    simulations."""
    n_c, m_c, v_c, n_t, m_t, v_t = moments(values, is_treatment)
    ready = (n_c >= min_n) & (n_t >= min_n)
    var = v_c / np.maximum(n_c, 1.0) + v_t / np.maximum(n_t, 1.0)
    return np.where(ready, log_mixture_lr(m_t - m_c, var, tau), -np.inf)


def _p_from_log_lr(log_lr: float) -> float:
    """``min(1, 1 / Lambda)``, never 0: an underflow is the smallest positive double."""
    return 1.0 if log_lr <= 0 else max(math.exp(-log_lr), _TINY)


def _intersect(lows: np.ndarray, highs: np.ndarray, start: tuple[float, float] = (-1.0, 1.0),
               ) -> tuple[float, float]:
    """The running intersection of intervals, skipping an interval that would empty it."""
    low, high = start
    run_low = np.maximum.accumulate(np.concatenate(([low], lows)))
    run_high = np.minimum.accumulate(np.concatenate(([high], highs)))
    empty = run_low > run_high
    if not empty.any():
        return float(run_low[-1]), float(run_high[-1])
    k = int(np.argmax(empty))
    low, high = float(run_low[k - 1]), float(run_high[k - 1])
    for lo, hi in zip(lows[k - 1:].tolist(), highs[k - 1:].tolist(), strict=True):
        if max(low, lo) <= min(high, hi):
            low, high = max(low, lo), min(high, hi)
    return low, high


def _merged_order(n_control: int, n_treatment: int) -> np.ndarray:
    """Positions of the two arms in one stream that spreads each arm evenly over time (control
    first on ties): alternating for equal arms. True where the observation is the treatment's."""
    keys = np.concatenate((np.arange(1, n_control + 1, dtype=np.int64) * n_treatment,
                           np.arange(1, n_treatment + 1, dtype=np.int64) * n_control))
    return np.argsort(keys, kind="stable") >= n_control


def _arrival_order(order: Sequence[bool], n_control: int, n_treatment: int) -> np.ndarray:
    flags = np.asarray(order, dtype=bool)
    if flags.ndim != 1 or flags.size != n_control + n_treatment or (
            int(flags.sum()) != n_treatment):
        raise ValueError(f"order must flag {n_control + n_treatment} observations, "
                         f"{n_treatment} of them the treatment's")
    return flags


def msprt(control: Sequence[float], treatment: Sequence[float], *, alpha: float = 0.05,
          tau: float | None = None, min_n: int = 20,
          order: Sequence[bool] | None = None) -> SequentialResult:
    """The test on all data so far. ``tau``: mixture scale, ``DEFAULT_TAU`` (0.05) unless given,
    tuned for effects of a few points on a [0, 1] metric.

    The running minimum p-value and running-intersection interval are taken along the path
    the data arrived in: ``order`` flags, in arrival order, which observations are the
    treatment's (each arm's values in their own arrival order). Without it the data are
    replayed in a merged order that spreads each arm evenly over the stream (alternating for
    equal arms). Either way the result is a ``SequentialMonitor``'s fed in that order."""
    alpha, tau, min_n = _settings(alpha, tau, min_n)
    xc, xt = _as_values(control, "control"), _as_values(treatment, "treatment")
    nc, nt = xc.size, xt.size
    if order is not None:
        arrival = _arrival_order(order, nc, nt)
    mc = float(np.mean(xc)) if nc else 0.0
    mt = float(np.mean(xt)) if nt else 0.0
    p_value, ci = 1.0, (-1.0, 1.0)
    if nc >= min_n and nt >= min_n:
        is_t = _merged_order(nc, nt) if order is None else arrival
        values = np.empty(nc + nt)
        values[~is_t], values[is_t] = xc, xt
        n_c, m_c, v_c, n_t, m_t, v_t = (a[min_n * 2 - 1:] for a in moments(values, is_t))
        ready = (n_c >= min_n) & (n_t >= min_n)
        d = (m_t - m_c)[ready]
        var = v_c[ready] / n_c[ready] + v_t[ready] / n_t[ready]  # only where both arms have n
        p_value = _p_from_log_lr(float(np.max(log_mixture_lr(d, var, tau))))
        h = halfwidth(var, tau, alpha)
        ci = _intersect(d - h, d + h)
    return SequentialResult(nc, nt, mc, mt, mt - mc, p_value, ci, alpha, tau, min_n)


class SequentialMonitor:
    """Incremental form for a running experiment: O(1) per observation. Keeps each arm's count,
    sum and sum of squares, the running minimum p-value and the running-intersection interval;
    ``to_state`` / ``from_state`` round-trip it through JSON."""

    def __init__(self, *, alpha: float = 0.05, tau: float | None = None, min_n: int = 20) -> None:
        self.alpha, self.tau, self.min_n = _settings(alpha, tau, min_n)
        self._n = {arm: 0 for arm in ARMS}
        self._sum = {arm: 0.0 for arm in ARMS}
        self._sumsq = {arm: 0.0 for arm in ARMS}
        self._p = 1.0
        self._ci = (-1.0, 1.0)

    def add(self, arm: str, value: float) -> None:
        """Record one observation of ``arm`` (``control`` or ``treatment``), then test."""
        if arm not in ARMS:
            raise ValueError(f"arm must be 'control' or 'treatment', got {arm!r}")
        x = check_value(value, f"{arm} value")
        self._n[arm] += 1
        self._sum[arm] += x
        self._sumsq[arm] += x * x
        if min(self._n.values()) >= self.min_n:
            self._test()

    def _test(self) -> None:
        var = 0.0
        for arm in ARMS:
            var += float(plugin_variance(self._n[arm], self._sum[arm], self._sumsq[arm])
                         ) / self._n[arm]
        d = self._mean("treatment") - self._mean("control")
        self._p = min(self._p, _p_from_log_lr(float(log_mixture_lr(d, var, self.tau))))
        h = float(halfwidth(var, self.tau, self.alpha))
        self._ci = _intersect(np.array([d - h]), np.array([d + h]), self._ci)

    def _mean(self, arm: str) -> float:
        return self._sum[arm] / self._n[arm] if self._n[arm] else 0.0

    def result(self) -> SequentialResult:
        mc, mt = self._mean("control"), self._mean("treatment")
        return SequentialResult(self._n["control"], self._n["treatment"], mc, mt, mt - mc,
                                self._p, self._ci, self.alpha, self.tau, self.min_n)

    def to_state(self) -> dict[str, float]:
        state: dict[str, float] = {"alpha": self.alpha, "tau": self.tau, "min_n": self.min_n}
        for arm in ARMS:
            state |= {f"n_{arm}": self._n[arm], f"sum_{arm}": self._sum[arm],
                      f"sumsq_{arm}": self._sumsq[arm]}
        return state | {"p_value": self._p, "ci_low": self._ci[0], "ci_high": self._ci[1]}

    @classmethod
    def from_state(cls, state: Mapping[str, float]) -> SequentialMonitor:
        missing = [key for key in _STATE_KEYS if key not in state]
        if missing:
            raise ValueError(f"sequential monitor state lacks {', '.join(missing)}")
        monitor = cls(alpha=float(state["alpha"]), tau=float(state["tau"]),
                      min_n=int(state["min_n"]))
        for arm in ARMS:
            n = state[f"n_{arm}"]
            if int(n) != n or n < 0:
                raise ValueError(f"sequential monitor state has n_{arm} = {n!r}")
            monitor._n[arm] = int(n)
            monitor._sum[arm] = float(state[f"sum_{arm}"])
            monitor._sumsq[arm] = float(state[f"sumsq_{arm}"])
        monitor._p = float(state["p_value"])
        monitor._ci = (float(state["ci_low"]), float(state["ci_high"]))
        return monitor


def naive_ttest_p(control: Sequence[float], treatment: Sequence[float]) -> float:
    """Welch's two-sample t-test p-value (scipy). Valid only at one fixed sample size, decided in
    advance: checked repeatedly it rejects far more often than ``alpha`` (the simulation in
    ``benchmarks/sequential_sim.py`` shows how much). 1.0 when it is undefined."""
    from scipy.stats import ttest_ind

    xc, xt = np.asarray(control, dtype=float), np.asarray(treatment, dtype=float)
    if xc.size < 2 or xt.size < 2:
        return 1.0
    with warnings.catch_warnings():  # constant samples: scipy warns and answers NaN
        warnings.simplefilter("ignore", RuntimeWarning)
        p = float(ttest_ind(xt, xc, equal_var=False).pvalue)
    return 1.0 if math.isnan(p) else p
