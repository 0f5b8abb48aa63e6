"""Builders for experiment tests: an experiment, and logged request rows per arm."""

from __future__ import annotations

import random
from typing import Any

from honed.experiments import Experiment, Metric


def experiment(**overrides: Any) -> Experiment:
    fields: dict[str, Any] = dict(
        name="exp", prompt="sent", control_ref="sent@production", control_version=1,
        treatment_ref="sent@candidate", treatment_version=2, split=0.5,
        metric=Metric("feedback"), guardrails=(), salt="salt", created=1_000.0)
    fields.update(overrides)
    return Experiment(**fields)


def rows(arm: str, n: int, *, p_good: float, seed: int, error_rate: float = 0.0,
         latency_s: float = 0.1, cost: float = 0.001, prefix: str = "") -> list[dict[str, Any]]:
    """``n`` requests of ``arm`` from distinct users, each with a 0/1 feedback score that is
    1 with probability ``p_good``."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        failed = rng.random() < error_rate
        rid = f"{prefix}{arm}-{i}"
        out.append({
            "id": rid, "created": 1_000.0 + i, "version": 1 if arm == "control" else 2,
            "arm": arm, "user_id": f"{prefix}{arm}-user-{i}", "inputs": {"text": f"t{i}"},
            "output": None if failed else "positive", "error": "boom" if failed else None,
            "latency_s": latency_s, "cost_usd": 0.0 if failed else cost,
            "feedback": [] if failed else [
                {"id": i, "created": 2_000.0 + i, "score": float(rng.random() < p_good),
                 "label": None, "correction": None, "comment": None}]})
    return out

