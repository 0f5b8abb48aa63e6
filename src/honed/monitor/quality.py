"""Quality over time for one prompt version: one observation per request (its feedback where
there is some, else the mean of its eval scores), and a CUSUM against the version's reference
(its first ``reference_n`` observations) that alarms when quality drops."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from honed.experiments.metrics import feedback_value
from honed.monitor.config import MonitorConfig

Row = Mapping[str, Any]
Scores = Mapping[str, Mapping[str, Mapping[str, Any]]]  # eval -> request id -> score row


@dataclass(frozen=True)
class Observation:
    request_id: str
    created: float
    value: float
    source: str  # "feedback" | "eval"


@dataclass
class QualityState:
    """The detector's verdict over a version's observations."""

    n: int
    mean: float | None
    reference: float | None
    evidence: dict[str, Any] = field(default_factory=dict)
    alarm_request: str | None = None  # the observation at which the detector alarmed
    alarm_created: float | None = None

    @property
    def alarmed(self) -> bool:
        return self.alarm_request is not None


def observation(row: Row, scores: Scores) -> Observation | None:
    """A request's quality: feedback counts where present, else its eval scores' mean."""
    value = feedback_value(row)
    if value is not None:
        return Observation(row["id"], float(row["created"]), value, "feedback")
    found = [float(by_id[row["id"]]["score"]) for by_id in scores.values() if row["id"] in by_id]
    if not found:
        return None
    return Observation(row["id"], float(row["created"]), sum(found) / len(found), "eval")


def observations(rows: Sequence[Row], scores: Scores) -> list[Observation]:
    """Observations of ``rows`` (oldest first) that have a quality value."""
    ordered = sorted(rows, key=lambda r: (float(r["created"]), str(r["id"])))
    return [obs for row in ordered if (obs := observation(row, scores)) is not None]


HIGH_REFERENCE, HIGH_THRESHOLD = 0.9, 8.25  # docs/online-statistics.md: "Other references"


def threshold(config: MonitorConfig, reference: float) -> float | None:
    """The configured threshold, else the simulated default: ``None`` (the CUSUM's own, 7.75),
    or 8.25 from a reference of 0.9, where 7.75 false-alarms more than 5% of the time."""
    if config.threshold is not None:
        return config.threshold
    return HIGH_THRESHOLD if reference >= HIGH_REFERENCE else None


def detect(obs: Sequence[Observation], config: MonitorConfig,
           after: float | None = None) -> QualityState:
    """Run the CUSUM over the observations after the reference window (and after ``after``:
    the time of an alarm that was cleared, so a new episode is a new alarm)."""
    from honed.stats.drift import Cusum, PageHinkley, reference_mean

    values = [o.value for o in obs]
    mean = sum(values) / len(values) if values else None
    if len(obs) < config.reference_n:
        return QualityState(len(obs), mean, None, {"waiting_for": config.reference_n - len(obs)})
    reference = reference_mean(values[:config.reference_n],
                               lower_by_se=config.reference_margin)
    if reference - config.shift <= 0:
        return QualityState(len(obs), mean, reference, {"note": "reference too low to drop"})
    cusum = Cusum(reference, shift=config.shift, threshold=threshold(config, reference))
    hinkley = PageHinkley(reference)
    alarm: Observation | None = None
    for item in obs[config.reference_n:]:
        if after is not None and item.created <= after:
            continue
        hinkley.update(item.value)
        if cusum.update(item.value) and alarm is None:
            alarm = item
    evidence = {**cusum.evidence(), "page_hinkley": hinkley.evidence(),
                "reference_n": config.reference_n}
    return QualityState(len(obs), mean, reference, evidence,
                        None if alarm is None else alarm.request_id,
                        None if alarm is None else alarm.created)
