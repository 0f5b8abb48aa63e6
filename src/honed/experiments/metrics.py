"""What an experiment measures per arm, from its logged requests (pure: rows in, numbers out).

- ``feedback``: a request's latest feedback that carries a score, a label or a correction.
  A score counts as is (clipped to [0, 1]); a label or a correction without a score counts 1.0
  when it equals the output after normalisation (case, surrounding and repeated spaces), else
  0.0. Requests without such feedback, and failed requests, do not count.
- ``eval:NAME``: the stored score of the eval (``request_scores``); requests not scored yet do
  not count.
- The unit of observation: per ``request``, each counted request is one observation; per
  ``user`` (the default of new experiments), each assignment unit (its user, else the request
  itself) is one: the mean of its counted requests, observed at its latest one. Sticky
  assignment sends all of a user's requests to one arm, and they are correlated, so only the
  per-user observations are independent, as the sequential test assumes.
- Per arm, for guardrails: requests, distinct units, errors, the error rate, the nearest-rank
  p95 latency and the mean cost of successful requests.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from honed.evals.normalize import normalize
from honed.experiments.assignment import ARMS, unit_of
from honed.experiments.model import Metric

Row = Mapping[str, Any]


@dataclass(frozen=True)
class ArmStats:
    requests: int
    units: int
    errors: int
    latency_p95_s: float | None
    cost_per_request: float | None
    ok: int  # successful requests (latency and cost are over these)

    @property
    def error_rate(self) -> float | None:
        return None if self.requests == 0 else self.errors / self.requests

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "error_rate": self.error_rate}

    def guardrail_value(self, metric: str) -> tuple[float | None, int]:
        """The value a guardrail on ``metric`` reads, and the number of requests behind it."""
        if metric == "error_rate":
            return self.error_rate, self.requests
        if metric == "latency_p95":
            return self.latency_p95_s, self.ok
        return self.cost_per_request, self.ok


def nearest_rank(values: Sequence[float], q: float) -> float | None:
    """The ``q``-th percentile by nearest rank (a value that was observed); None when empty."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100.0 * len(ordered)))
    return float(ordered[rank - 1])


def request_stats(items: Sequence[Row]) -> ArmStats:
    """Counts, errors, p95 latency and mean cost of some logged requests (an arm's, or a
    version's since a time)."""
    ok = [r for r in items if r.get("error") is None]
    latencies = [float(r["latency_s"]) for r in ok if r.get("latency_s") is not None]
    costs = [float(r.get("cost_usd") or 0.0) for r in ok]
    return ArmStats(
        requests=len(items), units=len({unit_of(r.get("user_id"), r["id"]) for r in items}),
        errors=len(items) - len(ok), latency_p95_s=nearest_rank(latencies, 95),
        cost_per_request=sum(costs) / len(costs) if costs else None, ok=len(ok))


def arm_stats(rows: Iterable[Row]) -> dict[str, ArmStats]:
    """``request_stats`` per arm (every arm present, maybe empty)."""
    grouped: dict[str, list[Row]] = {arm: [] for arm in ARMS}
    for row in rows:
        if row.get("arm") in grouped:
            grouped[row["arm"]].append(row)
    return {arm: request_stats(items) for arm, items in grouped.items()}


def feedback_value(row: Row) -> float | None:
    """The feedback metric of one logged request, or None when it does not count."""
    if row.get("error") is not None or row.get("output") is None:
        return None
    for item in reversed(list(row.get("feedback") or ())):
        if item.get("score") is not None:
            return min(1.0, max(0.0, float(item["score"])))
        named = item.get("label") if item.get("label") is not None else item.get("correction")
        if named is not None:
            return 1.0 if normalize(str(named)) == normalize(str(row["output"])) else 0.0
    return None


Observation = tuple[float, str, float]  # (time, arm, value in [0, 1])


def observations(rows: Iterable[Row], metric: Metric,
                 scores: Mapping[str, Mapping[str, Any]] | None = None, *,
                 unit: str = "request") -> list[Observation]:
    """The metric's observations, oldest first (rows come oldest first): one per counted
    request, or with ``unit="user"`` one per unit (see the module doc)."""
    counted: list[tuple[Row, float]] = []
    for row in rows:
        if row.get("arm") not in ARMS:
            continue
        if metric.kind == "feedback":
            value = feedback_value(row)
        else:
            scored = (scores or {}).get(str(row["id"]))
            value = None if scored is None else float(scored["score"])
        if value is not None:
            counted.append((row, min(1.0, max(0.0, value))))
    if unit != "user":
        return [(float(row.get("created") or 0.0), str(row["arm"]), value)
                for row, value in counted]
    units: dict[tuple[str, str], list[Any]] = {}  # (arm, unit) -> [latest time, sum, n]
    for row, value in counted:
        key = (str(row["arm"]), unit_of(row.get("user_id"), str(row["id"])))
        seen = units.setdefault(key, [0.0, 0.0, 0])
        seen[0] = float(row.get("created") or 0.0)
        seen[1] += value
        seen[2] += 1
    ordered = sorted(units.items(), key=lambda item: item[1][0])  # stable: ties keep order
    return [(latest, arm, total / n) for (arm, _), (latest, total, n) in ordered]


def metric_values(rows: Iterable[Row], metric: Metric,
                  scores: Mapping[str, Mapping[str, Any]] | None = None, *,
                  unit: str = "request") -> dict[str, list[float]]:
    """The metric's observations per arm, oldest first (see ``observations``)."""
    values: dict[str, list[float]] = {arm: [] for arm in ARMS}
    for _, arm, value in observations(rows, metric, scores, unit=unit):
        values[arm].append(value)
    return values
