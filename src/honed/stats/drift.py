"""Drift in production: change detectors for a quality metric, and shift measures for inputs.

Quality: per-request scores in [0, 1] (mostly pass/fail) arrive one at a time, and a detector
raises an alarm when their mean has dropped below a reference.

- ``Cusum``: Page's CUSUM of the Bernoulli log-likelihood ratio of ``reference - shift`` against
  ``reference`` (Page, "Continuous inspection schemes", Biometrika 41, 1954; the Bernoulli form
  as in Reynolds and Stoumbos, J. Quality Technology 31, 1999). A fractional score counts as a
  fraction of a pass (the log-likelihood ratio is linear in it). It is the detector to use: its
  default threshold keeps false alarms under 5% per 5,000 requests at a steady 0.80 and finds a
  drop to 0.70 within 500 requests in 95% of streams (``benchmarks/drift_sim.py``).
- ``PageHinkley``: the Page-Hinkley test (Page 1954; Hinkley, Biometrika 58, 1971): a CUSUM of
  ``reference - x - delta`` in the metric's own units, against a fixed reference or, without
  one, the running mean. Simpler and distribution-free, but in the metric's own units, so with
  fixed settings its false-alarm rate follows the base rate's variance (18% per 5,000 requests
  at 0.5, none at 0.95, with the defaults).

Where the reference comes from: the version's own first scored requests (``reference_mean`` of
at least ``REFERENCE_MIN_N`` of them, smoothed, half a standard error lower), or its offline
test score when production traffic is scored the same way. An estimated reference carries its
own error, which adds false alarms: ``docs/online-statistics.md`` gives the figures.

Inputs: ``psi`` (population stability index over quantile bins of the reference) for numbers,
``psi_categorical`` for labels, ``input_features`` for what to compare of a text, ``oov_rate``
for new vocabulary. ``PSI_MODERATE`` and ``PSI_MAJOR`` are the conventional thresholds.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, ClassVar, Self

import numpy as np

CUSUM_SHIFT = 0.1
CUSUM_THRESHOLD = 7.75  # log-likelihood ratio; tuned by benchmarks/drift_sim.py (see the docs)
PH_DELTA = 0.05
PH_THRESHOLD = 15.0  # in the metric's units (a sum of score deviations)
REFERENCE_MIN_N = 5000  # scored requests in a reference window (see the docs)
PSI_MODERATE = 0.1
PSI_MAJOR = 0.25
PSI_PSEUDO_COUNT = 0.5  # added to every bin's count, so an empty bin has a finite log
_EDGE = 1e-3  # a reference or target mean is kept inside [_EDGE, 1 - _EDGE]
_WORD = re.compile(r"\w+")


def _number(value: Any, what: str, low: float = -math.inf, high: float = math.inf) -> float:
    try:
        x = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{what} = {value!r} is not a number") from None
    if not (math.isfinite(x) and low <= x <= high):  # NaN fails too
        bounds = f"in [{low:g}, {high:g}]" if math.isfinite(low + high) else "finite"
        raise ValueError(f"{what} = {value!r} is not {bounds}")
    return x


def _finite(values: Sequence[float], what: str) -> np.ndarray:
    try:
        arr = np.asarray(values, dtype=float)
    except (TypeError, ValueError):
        raise ValueError(f"{what} must hold numbers only") from None
    if arr.ndim != 1 or arr.size == 0:
        raise ValueError(f"{what} must be a non-empty flat sequence of numbers")
    bad = np.flatnonzero(~np.isfinite(arr))
    if bad.size:
        raise ValueError(f"{what}[{int(bad[0])}] = {values[int(bad[0])]!r} is not finite")
    return arr


def reference_mean(scores: Sequence[float], *, lower_by_se: float = 0.0) -> float:
    """A reference mean from a reference window of scores in [0, 1]: ``(sum + 1) / (n + 2)``, so
    a window of all passes does not make a single failure look infinitely unlikely, less
    ``lower_by_se`` standard errors (a margin for the window's own sampling error: the docs
    show what it buys)."""
    arr = _finite(scores, "scores")
    bad = np.flatnonzero((arr < 0.0) | (arr > 1.0))
    if bad.size:
        raise ValueError(f"scores[{int(bad[0])}] = {scores[int(bad[0])]!r} is outside [0, 1]")
    margin = _number(lower_by_se, "lower_by_se", 0.0)
    p = (float(arr.sum()) + 1.0) / (arr.size + 2.0)
    return max(p - margin * math.sqrt(p * (1.0 - p) / arr.size), 0.0)


class _Detector:
    """What both detectors share: counts, the alarm, the evidence segment, the JSON state."""

    name: ClassVar[str] = ""
    threshold: float
    _settings_keys: ClassVar[tuple[str, ...]] = ()
    _run_keys = ("statistic", "alarmed", "n", "alarm_at", "total", "cum", "low", "seg_n",
                 "seg_sum")

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        """Back to the start: statistic 0, no alarm, nothing seen."""
        self.statistic, self.alarmed, self.n = 0.0, False, 0
        self.alarm_at: int | None = None
        self.total = 0.0
        self.cum, self.low = 0.0, 0.0  # the cumulative sum and its lowest value (0 at most)
        self.seg_n, self.seg_sum = 0, 0.0  # scores since that lowest value

    def _check(self, x: float) -> float:
        raise NotImplementedError

    def increment(self, x: Any) -> Any:
        """What one score adds to the cumulative sum the statistic is measured on."""
        raise NotImplementedError

    def update(self, x: float) -> bool:
        """Take one score; True when the detector has alarmed (it stays alarmed until
        ``reset``)."""
        value = self._check(x)
        self.n += 1
        self.total += value
        self.cum += self.increment(value)
        self.seg_n, self.seg_sum = self.seg_n + 1, self.seg_sum + value
        if self.cum <= self.low:  # a new minimum: the evidence segment starts afresh
            self.low, self.seg_n, self.seg_sum = self.cum, 0, 0.0
        self.statistic = self.cum - self.low
        if not self.alarmed and self.statistic >= self.threshold:
            self.alarmed, self.alarm_at = True, self.n
        return self.alarmed

    def _reference_now(self) -> float:
        raise NotImplementedError

    def evidence(self) -> dict[str, Any]:
        """What a user sees: the reference, the mean over the stretch the statistic has grown
        on (``recent_mean`` of ``recent_n`` scores), the overall mean, statistic and threshold."""
        return {"detector": self.name, "reference": self._reference_now(),
                "recent_mean": self.seg_sum / self.seg_n if self.seg_n else None,
                "recent_n": self.seg_n, "mean": self.total / self.n if self.n else None,
                "n": self.n, "statistic": self.statistic, "threshold": self.threshold,
                "alarmed": self.alarmed, "alarm_at": self.alarm_at,
                **{k: getattr(self, k) for k in self._settings_keys
                   if k not in ("reference", "threshold")}}

    def to_state(self) -> dict[str, Any]:
        return {"detector": self.name,
                **{k: getattr(self, k) for k in self._settings_keys + self._run_keys}}

    @classmethod
    def from_state(cls, state: Mapping[str, Any]) -> Self:
        """The detector ``to_state`` wrote, ready to take the next score."""
        if state.get("detector") != cls.name:
            raise ValueError(f"not a {cls.name} state: detector = {state.get('detector')!r}")
        missing = [k for k in cls._settings_keys + cls._run_keys if k not in state]
        if missing:
            raise ValueError(f"{cls.name} state lacks {', '.join(missing)}")
        detector = cls(**{k: state[k] for k in cls._settings_keys})
        detector.statistic, detector.alarmed = float(state["statistic"]), bool(state["alarmed"])
        detector.n, detector.total = int(state["n"]), float(state["total"])
        at = state["alarm_at"]
        detector.alarm_at = None if at is None else int(at)
        detector.seg_n, detector.seg_sum = int(state["seg_n"]), float(state["seg_sum"])
        detector.cum, detector.low = float(state["cum"]), float(state["low"])
        return detector


class Cusum(_Detector):
    """One-sided Bernoulli CUSUM: alarms when the mean of scores in [0, 1] has dropped from
    ``reference`` by about ``shift`` or more. Each score adds its log-likelihood ratio of mean
    ``reference - shift`` against ``reference``; the statistic is the largest sum of those over
    any recent stretch (never below 0), and it alarms at ``threshold`` (``CUSUM_THRESHOLD`` by
    default). ``update`` is O(1)."""

    name = "cusum"
    _settings_keys = ("reference", "shift", "threshold")

    def __init__(self, reference: float, *, shift: float = CUSUM_SHIFT,
                 threshold: float | None = None) -> None:
        self.reference = _number(reference, "reference", 0.0, 1.0)
        self.shift = _number(shift, "shift", 0.0, 1.0)
        if not self.reference - self.shift > 0 or self.shift == 0:
            raise ValueError(f"cannot detect a drop of shift = {shift!r} from reference = "
                             f"{reference!r}: the shift must be above 0 and below the reference")
        self.threshold = _number(CUSUM_THRESHOLD if threshold is None else threshold,
                                 "threshold", 0.0)
        p0 = min(max(self.reference, _EDGE), 1.0 - _EDGE)
        p1 = min(max(self.reference - self.shift, _EDGE / 2), p0 - _EDGE / 2)
        self._pass = math.log(p1 / p0)  # < 0: a pass is evidence against the drop
        self._fail = math.log((1.0 - p1) / (1.0 - p0))  # > 0
        super().__init__()

    def _check(self, x: float) -> float:
        return _number(x, "score", 0.0, 1.0)

    def increment(self, x: Any) -> Any:
        """The log-likelihood ratio of one score, or of an array of them (for simulations)."""
        return x * self._pass + (1.0 - x) * self._fail

    def _reference_now(self) -> float:
        return self.reference


class PageHinkley(_Detector):
    """Page-Hinkley test for a change of the mean. ``direction="down"`` sums ``m - x - delta``
    (``"up"``: ``x - m - delta``), with ``m`` the ``reference`` or, without one, the running
    mean of the scores so far; it alarms when that sum rises ``threshold`` above its lowest
    value. ``delta`` is the drift tolerated (half the smallest change worth finding is usual).
    Scores may be any finite numbers."""

    name = "page_hinkley"
    _settings_keys = ("reference", "delta", "threshold", "direction")

    def __init__(self, reference: float | None = None, *, delta: float = PH_DELTA,
                 threshold: float | None = None, direction: str = "down") -> None:
        self.reference = None if reference is None else _number(reference, "reference")
        self.delta = _number(delta, "delta", 0.0)
        self.threshold = _number(PH_THRESHOLD if threshold is None else threshold,
                                 "threshold", 0.0)
        if direction not in ("down", "up"):
            raise ValueError(f"direction must be 'down' or 'up', got {direction!r}")
        self.direction = direction
        super().__init__()

    def _check(self, x: float) -> float:
        return _number(x, "score")

    def increment(self, x: Any) -> Any:
        """``m - x - delta`` (down) or ``x - m - delta`` (up); with a fixed reference, also of
        an array of scores (for simulations)."""
        m = self._reference_now()  # the running mean already includes x
        return (m - x if self.direction == "down" else x - m) - self.delta

    def _reference_now(self) -> float:
        if self.reference is not None:
            return self.reference
        return self.total / self.n if self.n else 0.0


def _psi_from_counts(ref: np.ndarray, cur: np.ndarray) -> float:
    """PSI over bins with a count in either sample (a bin empty in both says nothing)."""
    seen = (ref + cur) > 0
    ref, cur = ref[seen], cur[seen]
    r = (ref + PSI_PSEUDO_COUNT) / (ref.sum() + PSI_PSEUDO_COUNT * ref.size)
    c = (cur + PSI_PSEUDO_COUNT) / (cur.sum() + PSI_PSEUDO_COUNT * cur.size)
    return float(np.sum((c - r) * np.log(c / r)))


def psi(reference: Sequence[float], current: Sequence[float], *, bins: int = 10) -> float:
    """Population stability index of ``current`` against ``reference``: ``sum (c - r) ln(c / r)``
    over ``bins`` quantile bins of the reference (fewer when the reference has ties), each
    share smoothed with ``PSI_PSEUDO_COUNT``. 0 for identical samples; above ``PSI_MODERATE``
    a moderate shift, above ``PSI_MAJOR`` a major one."""
    if isinstance(bins, bool) or int(bins) != bins or bins < 2:
        raise ValueError(f"bins must be an integer of at least 2, got {bins!r}")
    ref, cur = _finite(reference, "reference"), _finite(current, "current")
    edges = np.unique(np.quantile(ref, np.linspace(0.0, 1.0, int(bins) + 1)[1:-1]))
    k = edges.size + 1
    ref_counts = np.bincount(np.searchsorted(edges, ref, side="right"), minlength=k)
    cur_counts = np.bincount(np.searchsorted(edges, cur, side="right"), minlength=k)
    return _psi_from_counts(ref_counts.astype(float), cur_counts.astype(float))


def psi_categorical(reference: Sequence[str], current: Sequence[str]) -> float:
    """Population stability index over the labels of either sample (a label new in ``current``
    counts, against a smoothed share in the reference)."""
    if not reference or not current:
        raise ValueError("psi_categorical needs a non-empty reference and current sample")
    ref, cur = Counter(reference), Counter(current)
    labels = sorted(set(ref) | set(cur), key=str)
    return _psi_from_counts(np.array([ref[x] for x in labels], dtype=float),
                            np.array([cur[x] for x in labels], dtype=float))


def psi_level(value: float) -> str:
    """``"stable"`` below ``PSI_MODERATE``, ``"moderate"`` below ``PSI_MAJOR``, else ``"major"``."""
    return "stable" if value < PSI_MODERATE else "moderate" if value < PSI_MAJOR else "major"


def input_features(text: str) -> dict[str, float]:
    """What the monitor compares of one input: its length in characters, words and lines, and
    the shares of its characters that are digits and that are not ASCII (a new language or
    script shows there first)."""
    chars = len(text)
    return {"chars": float(chars), "words": float(len(text.split())),
            "lines": float(text.count("\n") + 1 if text else 0),
            "digit_share": sum(ch.isdigit() for ch in text) / chars if chars else 0.0,
            "non_ascii_share": sum(not ch.isascii() for ch in text) / chars if chars else 0.0}


def words(text: str) -> list[str]:
    """Lower-cased word tokens (runs of letters, digits and underscores)."""
    return _WORD.findall(text.lower())


def oov_rate(reference_texts: Iterable[str], current_texts: Iterable[str]) -> float:
    """The share of the words of ``current_texts`` never seen in ``reference_texts`` (0.0 when
    the current texts have no words)."""
    vocabulary = {w for text in reference_texts for w in words(text)}
    total = unseen = 0
    for text in current_texts:
        tokens = words(text)
        total += len(tokens)
        unseen += sum(w not in vocabulary for w in tokens)
    return unseen / total if total else 0.0
