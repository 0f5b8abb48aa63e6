"""Quality gates declared in a task (``gates:``) or on the command line."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

Action = Literal["WARN", "FAIL", "BLOCK_DEPLOY"]
Metric = Literal["score", "eval", "regression", "cost_per_example", "latency_p95_s",
                 "error_rate"]


class GateSpec(BaseModel):
    """``metric`` compared with ``min`` or ``max``; ``action`` says what a failure means.

    - score: the task score (min)             - eval: one eval's mean (``eval`` names it; min)
    - regression: production score - this score, on the same examples (max)
    - cost_per_example (USD, max)             - latency_p95_s (max)
    - error_rate: errored examples / all (max)
    """

    model_config = ConfigDict(extra="forbid", frozen=True)
    metric: Metric
    min: float | None = None
    max: float | None = None
    eval: str | None = Field(None, description="eval name, for metric: eval")
    action: Action = "FAIL"
    name: str | None = None

    @model_validator(mode="after")
    def _bound(self) -> GateSpec:
        if (self.min is None) == (self.max is None):
            raise ValueError("give exactly one of min or max")
        if self.metric == "eval" and not self.eval:
            raise ValueError("metric: eval needs 'eval: NAME'")
        return self

    @property
    def label(self) -> str:
        if self.name:
            return self.name
        what = f"eval:{self.eval}" if self.metric == "eval" else self.metric
        bound = f">= {self.min:g}" if self.min is not None else f"<= {self.max:g}"
        return f"{what} {bound}"
