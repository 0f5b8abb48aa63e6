"""OptimizationResult: what a run found, proven on held-out test with paired statistics."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from honed.optimizers.base import Scored, describe


def split_stats(scored: Scored | None) -> dict[str, Any] | None:
    if scored is None:
        return None
    return {"score": scored.score, "ci95": list(scored.ci95), "n": scored.n,
            "errors": scored.errors}


def pareto_front(history: Sequence[Scored]) -> list[dict[str, Any]]:
    """Non-dominated val candidates on (quality up, prompt tokens down, cost down)."""
    unique = {s.candidate.id: s for s in history if s.split == "val"}
    points = list(unique.values())

    def dominated(a: Scored) -> bool:
        return any(b.score >= a.score and b.prompt_tokens <= a.prompt_tokens
                   and b.cost_per_example <= a.cost_per_example
                   and (b.score, -b.prompt_tokens, -b.cost_per_example)
                   != (a.score, -a.prompt_tokens, -a.cost_per_example) for b in points)

    front = sorted((s for s in points if not dominated(s)), key=lambda s: -s.score)
    return [{"candidate_id": s.candidate.id, "val_score": s.score, "val_ci95": list(s.ci95),
             "prompt_tokens": round(s.prompt_tokens, 1),
             "cost_per_example_usd": s.cost_per_example} for s in front]


@dataclass(frozen=True)
class OptimizationResult:
    run_id: str
    optimizer: str
    seed_val: Scored
    best_val: Scored
    seed_test: Scored | None
    best_test: Scored | None
    test_diff: dict[str, Any] | None
    front: list[dict[str, Any]]
    stats: dict[str, Any]
    stopped: str | None = None
    output: str | None = None
    splits: dict[str, int] = field(default_factory=dict)
    registered: dict[str, Any] | None = None  # the registry version of the best prompt
    warnings: tuple[str, ...] = ()  # publishing problems (MLflow, registry), never fatal

    def to_dict(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id, "optimizer": self.optimizer, **self.stats,
            "splits": self.splits,
            "seed": {"val": split_stats(self.seed_val), "test": split_stats(self.seed_test),
                     "candidate_id": self.seed_val.candidate.id},
            "best": {"val": split_stats(self.best_val), "test": split_stats(self.best_test),
                     "candidate_id": self.best_val.candidate.id,
                     "prompt": describe(self.best_val.candidate)},
            "test_diff": self.test_diff, "pareto_front": self.front,
            "stopped": self.stopped, "output": self.output,
            "registered": self.registered, "warnings": list(self.warnings),
        }
