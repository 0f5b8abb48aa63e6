"""Agreement between raters (an LLM judge and the people who label the same outputs): accuracy,
Cohen's kappa (unweighted, linear and quadratic weights), Spearman's rho, Krippendorff's alpha,
the confusion matrix, bias, and bootstrap confidence intervals.

Pure functions over label sequences. A label is any hashable value (a string, a number);
``labels`` fixes their order, which is the scale from low to high wherever order matters
(weighted kappa counts disagreement in steps along it, as scikit-learn does). A paired function
takes the people's labels first and the judge's second: confusion rows are people, columns the
judge. A statistic that is undefined on the data (kappa when both raters use one label
throughout, rho when one of them is constant) is NaN, never a made-up number.

Bootstrap intervals resample items, not rows, when ``groups`` says which rows rate the same item
(several people labelling one output), and are deterministic for a ``seed``.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from honed.stats.bootstrap import CI_RESAMPLES, CONFIDENCE, bootstrap_ci, paired_bootstrap_ci

Weights = Literal["linear", "quadratic"] | None
Level = Literal["nominal", "ordinal", "interval", "ratio"]
CI = tuple[float, float]
NAN_CI: CI = (math.nan, math.nan)
_BLOCK = 1 << 22  # resampling weights are drawn in blocks of about this many entries


def _pair(a: Sequence[Hashable], b: Sequence[Hashable]) -> None:
    if len(a) != len(b):
        raise ValueError(f"paired ratings must have the same length, got {len(a)} and {len(b)}")


def label_order(*samples: Sequence[Hashable],
                labels: Sequence[Hashable] | None = None) -> list[Hashable]:
    """``labels`` when given (every value seen must be among them), else the sorted distinct
    values of the samples (by ``str`` when they do not sort among themselves)."""
    seen = list(dict.fromkeys(v for sample in samples for v in sample))
    if labels is not None:
        order = list(dict.fromkeys(labels))
        extra = [v for v in seen if v not in set(order)]
        if extra:
            raise ValueError(f"values {extra[:5]} are not among the labels {order}")
        return order
    try:
        return sorted(seen)  # type: ignore[type-var]
    except TypeError:
        return sorted(seen, key=str)


def _codes(sample: Sequence[Hashable], order: Sequence[Hashable]) -> np.ndarray:
    index = {v: i for i, v in enumerate(order)}
    return np.fromiter((index[v] for v in sample), dtype=np.int64, count=len(sample))


def confusion_matrix(human: Sequence[Hashable], judge: Sequence[Hashable],
                     labels: Sequence[Hashable] | None = None) -> np.ndarray:
    """Counts of (human label, judge label): rows are ``human``, columns ``judge``, both in
    ``label_order``."""
    _pair(human, judge)
    order = label_order(human, judge, labels=labels)
    k = len(order)
    cells = _codes(human, order) * k + _codes(judge, order)
    return np.bincount(cells, minlength=k * k).reshape(k, k)


def weight_matrix(k: int, weights: Weights = None) -> np.ndarray:
    """Disagreement weights between label positions: 0/1 (unweighted), ``|i-j|`` (linear) or
    ``(i-j)^2`` (quadratic)."""
    i, j = np.indices((k, k))
    if weights is None:
        return (i != j).astype(float)
    if weights == "linear":
        return np.abs(i - j).astype(float)
    if weights == "quadratic":
        return ((i - j) ** 2).astype(float)
    raise ValueError(f"unknown kappa weights {weights!r}: use None, 'linear' or 'quadratic'")


def _kappas(counts: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Kappa of each confusion matrix in ``counts`` (shape ``(..., k, k)``)."""
    counts = counts.astype(float)
    n = counts.sum(axis=(-2, -1))
    rows, cols = counts.sum(axis=-1), counts.sum(axis=-2)
    with np.errstate(divide="ignore", invalid="ignore"):
        expected = rows[..., :, None] * cols[..., None, :] / n[..., None, None]
        observed = (w * counts).sum(axis=(-2, -1))
        chance = (w * expected).sum(axis=(-2, -1))
        kappa = 1.0 - observed / chance
    return np.where(chance > 0, kappa, np.nan)


def kappa_from_confusion(matrix: np.ndarray | Sequence[Sequence[int]],
                         weights: Weights = None) -> float:
    """Cohen's kappa of a square confusion matrix (NaN when chance agreement is perfect)."""
    counts = np.asarray(matrix, dtype=float)
    if counts.ndim != 2 or counts.shape[0] != counts.shape[1] or counts.sum() <= 0:
        return math.nan
    return float(_kappas(counts, weight_matrix(counts.shape[0], weights)))


def cohen_kappa(human: Sequence[Hashable], judge: Sequence[Hashable], *,
                labels: Sequence[Hashable] | None = None, weights: Weights = None) -> float:
    """Cohen's kappa, optionally weighted by distance along ``labels`` (as
    ``sklearn.metrics.cohen_kappa_score``)."""
    return kappa_from_confusion(confusion_matrix(human, judge, labels), weights)


def accuracy(human: Sequence[Hashable], judge: Sequence[Hashable]) -> float:
    """Share of rows where both give the same label (NaN for no rows)."""
    _pair(human, judge)
    if not human:
        return math.nan
    return sum(1 for h, j in zip(human, judge, strict=True) if h == j) / len(human)


def spearman_rho(x: Sequence[float], y: Sequence[float]) -> float:
    """Spearman's rank correlation (ties get average ranks, as ``scipy.stats.spearmanr``);
    NaN when either side is constant or there are fewer than two pairs."""
    from scipy.stats import rankdata

    if len(x) != len(y):
        raise ValueError(f"paired samples must have the same length, got {len(x)} and {len(y)}")
    if len(x) < 2:
        return math.nan
    rx, ry = rankdata(np.asarray(x, dtype=float)), rankdata(np.asarray(y, dtype=float))
    dx, dy = rx - rx.mean(), ry - ry.mean()
    denominator = math.sqrt(float((dx * dx).sum() * (dy * dy).sum()))
    return float((dx * dy).sum() / denominator) if denominator > 0 else math.nan


# Krippendorff's alpha ---------------------------------------------------------------------------
def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _distances(domain: Sequence[Any], n_v: np.ndarray, level: Level) -> np.ndarray:
    k = len(domain)
    i, j = np.indices((k, k))
    if level == "nominal":
        return (i != j).astype(float)
    if level == "ordinal":
        lo, hi = np.minimum(i, j), np.maximum(i, j)
        cumulative = np.concatenate(([0.0], np.cumsum(n_v)))
        between = cumulative[hi + 1] - cumulative[lo]
        return (between - (n_v[lo] + n_v[hi]) / 2) ** 2
    values = np.asarray(domain, dtype=float)
    a, b = values[i], values[j]
    if level == "interval":
        return (a - b) ** 2
    if level == "ratio":
        total = a + b
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(total != 0, ((a - b) / total) ** 2, 0.0)
    raise ValueError(f"unknown level {level!r}: use nominal, ordinal, interval or ratio")


def krippendorff_alpha(data: Sequence[Sequence[Any]], *, level: Level = "nominal",
                       domain: Sequence[Any] | None = None) -> float:
    """Krippendorff's alpha of a raters x units table (``None`` or NaN: not rated), as the
    ``krippendorff`` package computes it. ``domain`` orders the values for ``ordinal`` (default:
    sorted). NaN when fewer than two values occur or no unit has two ratings."""
    rows = [list(r) for r in data]
    values = [v for r in rows for v in r if not _missing(v)]
    if domain is None:
        domain = label_order(values)
    index = {v: i for i, v in enumerate(domain)}
    units = max((len(r) for r in rows), default=0)
    counts = np.zeros((units, len(domain)))
    for r in rows:
        for u, v in enumerate(r):
            if not _missing(v):
                if v not in index:
                    raise ValueError(f"value {v!r} is not in the domain {list(domain)}")
                counts[u, index[v]] += 1
    counts = counts[counts.sum(axis=1) >= 2]  # only units rated at least twice are pairable
    if len(domain) < 2 or counts.size == 0:
        return math.nan
    per_unit = counts.sum(axis=1)
    pairs = counts[:, :, None] * counts[:, None, :] - counts[:, :, None] * np.eye(len(domain))
    coincidences = (pairs / (per_unit - 1)[:, None, None]).sum(axis=0)
    n_v = coincidences.sum(axis=0)
    chance = (np.outer(n_v, n_v) - np.diag(n_v)) / (n_v.sum() - 1)
    d = _distances(domain, n_v, level)
    expected = float((chance * d).sum())
    return 1.0 - float((coincidences * d).sum()) / expected if expected > 0 else math.nan


# bootstrap ------------------------------------------------------------------------------------
def _resample_weights(groups: int, resamples: int, seed: int) -> Any:
    """Blocks of ``(b, groups)`` draw counts: how often each group is in each replicate."""
    rng = np.random.default_rng(seed)
    block = max(1, _BLOCK // max(groups, 1))
    left = resamples
    while left > 0:
        b = min(block, left)
        draws = rng.integers(0, groups, (b, groups)) + (np.arange(b) * groups)[:, None]
        yield np.bincount(draws.ravel(), minlength=b * groups).reshape(b, groups)
        left -= b


def _per_group(cells: np.ndarray, k: int, groups: Sequence[Hashable] | None) -> np.ndarray:
    """Confusion cell counts per group (each row its own group when ``groups`` is None)."""
    if groups is None:
        member, size = np.arange(cells.size), cells.size
    else:
        if len(groups) != cells.size:
            raise ValueError(f"{len(groups)} groups for {cells.size} ratings")
        _, member = np.unique(np.asarray([str(g) for g in groups]), return_inverse=True)
        size = int(member.max()) + 1 if cells.size else 0
    table = np.zeros((size, k * k))
    np.add.at(table, (member, cells), 1.0)
    return table


def _interval(replicates: np.ndarray, confidence: float) -> CI:
    finite = replicates[np.isfinite(replicates)]
    if finite.size == 0:
        return NAN_CI
    alpha = 1 - confidence
    low, high = np.quantile(finite, [alpha / 2, 1 - alpha / 2])
    return (float(low), float(high))


def _check(confidence: float) -> None:
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be between 0 and 1, got {confidence}")


def kappa_ci(human: Sequence[Hashable], judge: Sequence[Hashable], *,
             labels: Sequence[Hashable] | None = None, weights: Weights = None,
             groups: Sequence[Hashable] | None = None, seed: int = 0,
             resamples: int = CI_RESAMPLES, confidence: float = CONFIDENCE) -> CI:
    """Percentile bootstrap CI of Cohen's kappa, resampling rows (or the ``groups`` they
    belong to, all rows of a group together). NaN ends when kappa is undefined."""
    diff, ci = _bootstrap_kappas(human, [judge], labels, weights, groups, seed, resamples,
                                 confidence)
    return ci if not math.isnan(diff) else NAN_CI


def paired_kappa_diff(human: Sequence[Hashable], before: Sequence[Hashable],
                      after: Sequence[Hashable], *, labels: Sequence[Hashable] | None = None,
                      weights: Weights = None, groups: Sequence[Hashable] | None = None,
                      seed: int = 0, resamples: int = CI_RESAMPLES,
                      confidence: float = CONFIDENCE) -> tuple[float, CI]:
    """``kappa(human, after) - kappa(human, before)`` on the same rows, and its bootstrap CI
    (both judges resampled on the same rows)."""
    return _bootstrap_kappas(human, [before, after], labels, weights, groups, seed, resamples,
                             confidence)


def _bootstrap_kappas(human: Sequence[Hashable], judges: Sequence[Sequence[Hashable]],
                      labels: Sequence[Hashable] | None, weights: Weights,
                      groups: Sequence[Hashable] | None, seed: int, resamples: int,
                      confidence: float) -> tuple[float, CI]:
    """One judge: its kappa and CI. Two: the kappa difference (second - first) and its CI."""
    _check(confidence)
    for judge in judges:
        _pair(human, judge)
    order = label_order(human, *judges, labels=labels)
    k, w = len(order), weight_matrix(len(order), weights)
    tables = [_per_group(_codes(human, order) * k + _codes(j, order), k, groups)
              for j in judges]
    point = [float(_kappas(t.sum(axis=0).reshape(k, k), w)) for t in tables]
    estimate = point[-1] - point[0] if len(judges) == 2 else point[0]
    if not human or math.isnan(estimate):
        return estimate, NAN_CI
    replicates = []
    for counts in _resample_weights(tables[0].shape[0], resamples, seed):
        kappas = [_kappas((counts @ t).reshape(-1, k, k), w) for t in tables]
        replicates.append(kappas[-1] - kappas[0] if len(judges) == 2 else kappas[0])
    return estimate, _interval(np.concatenate(replicates), confidence)


# the whole report -----------------------------------------------------------------------------
def _clean(value: Any) -> Any:
    """NaN -> None, tuples -> lists, recursively (for JSON)."""
    if isinstance(value, float):
        return None if math.isnan(value) else value
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    return value


@dataclass(frozen=True)
class Agreement:
    """How well a judge agrees with people on the same rows. ``kappa_linear`` and
    ``kappa_quadratic`` are set for ordered scales, ``spearman`` and ``bias`` for numbers and
    ordered scales (bias in the scale's units: for labels, steps along ``labels``), ``alpha``
    (among the people) and ``alpha_with_judge`` (the judge as one more rater) when several
    people rated the same items."""

    n: int
    labels: tuple[Any, ...]
    accuracy: float
    accuracy_ci: CI
    kappa: float
    kappa_ci: CI
    confusion: tuple[tuple[int, ...], ...]
    shares: Mapping[str, tuple[float, float]]  # label -> (human share, judge share)
    kappa_linear: float | None = None
    kappa_quadratic: float | None = None
    spearman: float | None = None
    bias: float | None = None
    bias_ci: CI | None = None
    alpha: float | None = None
    alpha_with_judge: float | None = None
    items: int | None = None
    raters: int | None = None
    notes: tuple[str, ...] = field(default_factory=tuple)

    def to_dict(self) -> dict[str, Any]:
        data = {name: getattr(self, name) for name in self.__dataclass_fields__}
        data["shares"] = {k: {"human": h, "judge": j} for k, (h, j) in self.shares.items()}
        return _clean(data)  # type: ignore[no-any-return]


def _position(order: Sequence[Hashable], numeric: bool) -> dict[Hashable, float]:
    return {v: float(v) if numeric else float(i) for i, v in enumerate(order)}  # type: ignore[arg-type]


def agreement(human: Sequence[Hashable], judge: Sequence[Hashable], *,
              labels: Sequence[Hashable] | None = None, numeric: bool = False,
              ordinal: bool | None = None, items: Sequence[Hashable] | None = None,
              raters: Sequence[Hashable] | None = None, seed: int = 0,
              resamples: int = CI_RESAMPLES) -> Agreement:
    """Every agreement statistic of ``judge`` against ``human`` (paired by position).

    ``numeric``: the labels are numbers (Spearman, bias and interval alpha on their values).
    ``ordinal`` (default: ``numeric``): the label order is a scale (weighted kappa, bias in
    steps, ordinal alpha). ``items`` groups rows that rate the same item (the bootstrap
    resamples items); with ``raters`` too, Krippendorff's alpha is computed.
    """
    _pair(human, judge)
    order = label_order(human, judge, labels=labels)
    ordinal = numeric if ordinal is None else ordinal
    matrix = confusion_matrix(human, judge, order)
    agree = [1.0 if h == j else 0.0 for h, j in zip(human, judge, strict=True)]
    total = max(len(human), 1)
    shares = {str(v): (sum(1 for h in human if h == v) / total,
                       sum(1 for j in judge if j == v) / total) for v in order}
    extra: dict[str, Any] = {}
    if ordinal:
        extra["kappa_linear"] = kappa_from_confusion(matrix, "linear")
        extra["kappa_quadratic"] = kappa_from_confusion(matrix, "quadratic")
        pos = _position(order, numeric)
        h, j = [pos[v] for v in human], [pos[v] for v in judge]
        extra["spearman"] = spearman_rho(h, j)
        extra["bias"], extra["bias_ci"] = paired_bootstrap_ci(h, j, seed=seed,
                                                              resamples=resamples)
    if items is not None and raters is not None:
        extra |= _alphas(human, judge, items, raters, order, numeric, ordinal)
    return Agreement(
        n=len(human), labels=tuple(order), accuracy=accuracy(human, judge),
        accuracy_ci=bootstrap_ci(agree, seed=seed, resamples=resamples) if agree else NAN_CI,
        kappa=kappa_from_confusion(matrix),
        kappa_ci=kappa_ci(human, judge, labels=order, groups=items, seed=seed,
                          resamples=resamples),
        confusion=tuple(tuple(int(c) for c in row) for row in matrix), shares=shares,
        items=len(set(items)) if items is not None else None, **extra)


def _alphas(human: Sequence[Hashable], judge: Sequence[Hashable], items: Sequence[Hashable],
            raters: Sequence[Hashable], order: Sequence[Hashable], numeric: bool,
            ordinal: bool) -> dict[str, Any]:
    """Alpha among the people, and with the judge as one more rater (its value for an item is
    the one on the item's first row)."""
    if not (len(items) == len(raters) == len(human)):
        raise ValueError("items and raters must have one entry per rating")
    units = list(dict.fromkeys(items))
    people = list(dict.fromkeys(raters))
    unit_at, rater_at = {u: i for i, u in enumerate(units)}, {r: i for i, r in enumerate(people)}
    table: list[list[Any]] = [[None] * len(units) for _ in people]
    judged: list[Any] = [None] * len(units)
    for h, j, item, rater in zip(human, judge, items, raters, strict=True):
        table[rater_at[rater]][unit_at[item]] = h
        if judged[unit_at[item]] is None:
            judged[unit_at[item]] = j
    level: Level = "interval" if numeric else ("ordinal" if ordinal else "nominal")
    domain = None if numeric else list(order)
    return {"alpha": krippendorff_alpha(table, level=level, domain=domain),
            "alpha_with_judge": krippendorff_alpha([*table, judged], level=level,
                                                   domain=domain),
            "raters": len(people)}
