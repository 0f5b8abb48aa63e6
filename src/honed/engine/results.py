"""Per-example results and aggregates: mean, 95% bootstrap CI (``honed.stats``), nearest-rank
percentiles."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from honed.evals.base import EvalResult
from honed.stats.bootstrap import CI_RESAMPLES as CI_RESAMPLES
from honed.stats.bootstrap import bootstrap_ci
from honed.stats.bootstrap import paired_diff as paired_diff


@dataclass(frozen=True)
class ExampleResult:
    example_id: str
    output: str = ""
    score: float | None = None  # None when errored or skipped (see ``value``)
    passed: bool = False
    evals: Mapping[str, EvalResult] = field(default_factory=dict)
    error: str | None = None
    error_kind: str | None = None  # provider | scorer | budget
    format_violation: bool = False
    input_tokens: int = 0
    output_tokens: int = 0
    latency_s: float = 0.0
    cost_usd: float = 0.0
    cached: bool = False

    @property
    def scored(self) -> bool:
        return self.score is not None

    @property
    def failed(self) -> bool:
        """The call failed after its retries, or an eval raised."""
        return self.score is None and self.error_kind in ("provider", "scorer")

    @property
    def value(self) -> float | None:
        """The score every objective and report uses: an error counts as a failure (0), so a
        prompt that makes the model fail on hard examples never scores higher; only an example
        the budget skipped (never attempted) has none."""
        if self.score is not None:
            return float(self.score)
        return 0.0 if self.failed else None

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["evals"] = {k: asdict(v) for k, v in self.evals.items()}
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ExampleResult:
        evals = {k: EvalResult(v["score"], v["passed"], v.get("feedback", ""),
                               v.get("labels", {})) for k, v in data.get("evals", {}).items()}
        return cls(**{**data, "evals": evals})


def nearest_rank(values: Sequence[float], q: float) -> float:
    if not values:
        return 0.0
    return float(np.percentile(np.asarray(values, dtype=float), q, method="inverted_cdf"))


@dataclass(frozen=True)
class Summary:
    score: float
    n: int
    ci95: tuple[float, float]
    n_total: int
    errors: int
    skipped: int
    pass_rate: float
    format_violations: int
    per_eval: Mapping[str, float]
    latency_p50_s: float
    latency_p95_s: float
    input_tokens: int
    output_tokens: int
    cost_usd: float

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["ci95"] = list(self.ci95)
        return data


def summarize(results: Sequence[ExampleResult], *, seed: int = 0) -> Summary:
    """Aggregates over every attempted example: errors are in ``n`` (as failures, score 0) and
    counted in ``errors``; only examples a budget skipped are left out (``skipped``)."""
    counted = [r for r in results if r.value is not None]
    scores = [float(r.value) for r in counted]  # type: ignore[arg-type]
    names = sorted({name for r in counted for name in r.evals})
    per_eval = {n: float(np.mean([r.evals[n].score if n in r.evals else 0.0 for r in counted
                                  if n in r.evals or r.failed]))
                for n in names}
    latencies = [r.latency_s for r in results if r.error_kind != "budget" and r.latency_s > 0]
    return Summary(
        score=float(np.mean(scores)) if scores else 0.0,
        n=len(counted),
        ci95=bootstrap_ci(scores, seed=seed),
        n_total=len(results),
        errors=sum(1 for r in results if r.failed),
        skipped=sum(1 for r in results if r.error_kind == "budget"),
        pass_rate=float(np.mean([r.passed for r in counted])) if counted else 0.0,
        format_violations=sum(1 for r in results if r.format_violation),
        per_eval=per_eval,
        latency_p50_s=nearest_rank(latencies, 50),
        latency_p95_s=nearest_rank(latencies, 95),
        input_tokens=sum(r.input_tokens for r in results),
        output_tokens=sum(r.output_tokens for r in results),
        cost_usd=sum(r.cost_usd for r in results),
    )
