"""Percentile bootstrap confidence intervals: of a mean, of a paired mean difference, and pooled
over several groups (tasks x seeds) by resampling examples within each group.

Every function is deterministic for a given ``seed`` (a numpy ``Generator``). Paired functions
take two samples ``a`` and ``b`` matched by position (or by key) and report ``b - a``: the change
from ``a`` to ``b``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

CI_RESAMPLES = 2000
CONFIDENCE = 0.95


def _check_confidence(confidence: float) -> float:
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be between 0 and 1, got {confidence}")
    return confidence


def bootstrap_ci(values: Sequence[float], *, seed: int = 0, resamples: int = CI_RESAMPLES,
                 confidence: float = CONFIDENCE) -> tuple[float, float]:
    """Percentile bootstrap CI of the mean (95% by default). No values: ``(0.0, 0.0)``; one
    value, or all equal: the value itself at both ends."""
    _check_confidence(confidence)
    arr = np.asarray(values, dtype=float)
    if arr.size == 0:
        return (0.0, 0.0)
    if arr.size == 1 or np.all(arr == arr[0]):
        return (float(arr[0]), float(arr[0]))
    from scipy.stats import bootstrap

    res = bootstrap((arr,), np.mean, n_resamples=resamples, confidence_level=confidence,
                    method="percentile", rng=np.random.default_rng(seed), vectorized=True)
    return (float(res.confidence_interval.low), float(res.confidence_interval.high))


def _paired(a: Sequence[float], b: Sequence[float]) -> np.ndarray:
    xa, xb = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if xa.shape != xb.shape or xa.ndim != 1:
        raise ValueError(f"paired samples must be 1-D and of the same length, got "
                         f"{xa.shape} and {xb.shape}")
    return xb - xa


def paired_bootstrap_ci(a: Sequence[float], b: Sequence[float], *, seed: int = 0,
                        resamples: int = CI_RESAMPLES, confidence: float = CONFIDENCE,
                        ) -> tuple[float, tuple[float, float]]:
    """Mean of ``b - a`` over pairs matched by position and its percentile bootstrap CI (pairs
    are resampled together). No pairs: ``(0.0, (0.0, 0.0))``."""
    diffs = _paired(a, b)
    if diffs.size == 0:
        return (0.0, (0.0, 0.0))
    return (float(np.mean(diffs)),
            bootstrap_ci(diffs, seed=seed, resamples=resamples, confidence=confidence))


def paired_diff(a: Mapping[str, float], b: Mapping[str, float], *,
                seed: int = 0) -> tuple[float, tuple[float, float], int]:
    """Mean of b - a over the keys (example ids) both have, its 95% bootstrap CI and n."""
    common = sorted(set(a) & set(b))
    diffs = [b[k] - a[k] for k in common]
    if not diffs:
        return (0.0, (0.0, 0.0), 0)
    return (float(np.mean(diffs)), bootstrap_ci(diffs, seed=seed), len(diffs))


def _groups(groups: Sequence[Sequence[float]]) -> list[np.ndarray]:
    arrays = [np.asarray(g, dtype=float) for g in groups]
    if not arrays:
        raise ValueError("a pooled estimate needs at least one group")
    for i, arr in enumerate(arrays):
        if arr.ndim != 1 or arr.size == 0:
            raise ValueError(f"group {i} must be a non-empty 1-D sample, got shape {arr.shape}")
    return arrays


def _weights(weights: Sequence[float] | None, k: int) -> np.ndarray:
    if weights is None:
        return np.full(k, 1.0 / k)
    w = np.asarray(weights, dtype=float)
    if w.shape != (k,):
        raise ValueError(f"expected {k} weights (one per group), got shape {w.shape}")
    if not np.all(np.isfinite(w)) or np.any(w < 0) or w.sum() <= 0:
        raise ValueError("weights must be finite, non-negative and not all zero")
    return w / w.sum()


def pooled_mean(groups: Sequence[Sequence[float]],
                weights: Sequence[float] | None = None) -> float:
    """Weighted mean of the group means; ``weights=None`` weighs every group the same (pass
    the group sizes to weigh every example the same)."""
    arrays = _groups(groups)
    w = _weights(weights, len(arrays))
    return float(sum(wi * float(np.mean(arr)) for wi, arr in zip(w, arrays, strict=True)))


def pooled_mean_ci(groups: Sequence[Sequence[float]], *,
                   weights: Sequence[float] | None = None, seed: int = 0,
                   resamples: int = CI_RESAMPLES,
                   confidence: float = CONFIDENCE) -> tuple[float, float]:
    """Stratified percentile bootstrap CI of ``pooled_mean(groups, weights)``: each replicate
    resamples every group's values within that group (its size kept), then pools the group
    means. Groups are drawn in order, so one group (or weights ``[1, 0, ...]``) gives exactly
    ``bootstrap_ci`` of the first group for the same seed. All groups constant: the estimate
    at both ends. A one-value group adds no spread: its value is taken as fixed."""
    _check_confidence(confidence)
    arrays = _groups(groups)
    w = _weights(weights, len(arrays))
    estimate = pooled_mean(arrays, w)
    if all(np.all(arr == arr[0]) for arr in arrays):
        return (estimate, estimate)
    rng = np.random.default_rng(seed)
    replicates = np.zeros(resamples)
    for wi, arr in zip(w, arrays, strict=True):
        index = rng.integers(0, arr.size, (resamples, arr.size))
        replicates += wi * np.mean(arr[index], axis=-1)
    alpha = 1 - confidence
    low, high = np.quantile(replicates, [alpha / 2, 1 - alpha / 2])
    return (float(low), float(high))


def pooled_paired_ci(groups: Sequence[tuple[Sequence[float], Sequence[float]]], *,
                     weights: Sequence[float] | None = None, seed: int = 0,
                     resamples: int = CI_RESAMPLES, confidence: float = CONFIDENCE,
                     ) -> tuple[float, tuple[float, float]]:
    """Pooled paired difference over groups of pairs ``(a, b)`` (say one group per task and
    seed): the weighted mean of each group's mean ``b - a`` and its stratified bootstrap CI
    (pairs resampled together, within their group). ``weights`` as in ``pooled_mean``."""
    diffs = [_paired(a, b) for a, b in groups]
    return (pooled_mean(diffs, weights),
            pooled_mean_ci(diffs, weights=weights, seed=seed, resamples=resamples,
                           confidence=confidence))
