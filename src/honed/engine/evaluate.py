"""High-level evaluation of a task's prompt on a split: what ``honed eval`` runs."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from honed.engine.runner import EvalReport
from honed.engine.session import EngineOptions, model_config, open_engine
from honed.task.config import load_splits
from honed.task.dataset import Splits
from honed.task.task import Task
from honed.tracking.events import Callback
from honed.types import Candidate, Example


@dataclass(frozen=True)
class EvalRun:
    task: Task
    split: str
    model: str
    splits: Splits
    report: EvalReport

    def to_dict(self, max_errors: int = 5) -> dict[str, Any]:
        r, s, st = self.report, self.report.summary, self.report.stats
        errors = [{"example_id": x.example_id, "error": x.error}
                  for x in r.results if x.error_kind in ("provider", "scorer")]
        return {
            "task": self.task.name, "split": self.split, "model": self.model,
            "candidate_id": r.candidate.id,
            "score": s.score, "n": s.n, "ci95": list(s.ci95), "n_total": s.n_total,
            "pass_rate": s.pass_rate, "per_eval": dict(s.per_eval),
            "errors": s.errors, "skipped": s.skipped, "format_violations": s.format_violations,
            "calls": st.calls, "cache_hits": st.cache_hits, "retries": st.retries,
            "retry_reasons": dict(st.retry_reasons), "failed_calls": st.failures,
            "throttled": st.throttled,
            "input_tokens": st.input_tokens, "output_tokens": st.output_tokens,
            "cost_usd": st.cost_usd, "wall_s": r.wall_s,
            "latency_p50_s": s.latency_p50_s, "latency_p95_s": s.latency_p95_s,
            "stopped": r.stopped, "carving": self.splits.carving,
            "error_examples": errors[:max_errors],
        }

    def rows(self) -> list[dict[str, Any]]:
        """Every example's result with its split and inputs, in the evaluation's order (what
        ``honed eval --output`` writes)."""
        split_of = {ex.id: name for name in ("train", "val", "test")
                    for ex in self.splits.get(name)}
        examples = self.splits.by_id()
        out = []
        for r in self.report.results:
            example = examples.get(r.example_id)
            out.append({
                "id": r.example_id, "split": split_of.get(r.example_id, self.split),
                "inputs": dict(example.fields) if example is not None else {},
                "output": r.output, "score": r.score, "passed": r.passed, "error": r.error,
                "error_kind": r.error_kind,
                "evals": {name: {"score": e.score, "passed": e.passed, "feedback": e.feedback}
                          for name, e in sorted(r.evals.items())},
                "input_tokens": r.input_tokens, "output_tokens": r.output_tokens,
                "latency_s": r.latency_s, "cost_usd": r.cost_usd, "cached": r.cached})
        return out


async def evaluate_task(task: Task, *, split: str = "test", limit: int | None = None,
                        options: EngineOptions | None = None,
                        callbacks: Iterable[Callback] = (),
                        candidate: Candidate | None = None,
                        demos: Mapping[str, Example] | None = None) -> EvalRun:
    """Evaluate ``candidate`` (default: the task's prompt) on a split; ``demos`` adds demo rows
    its demo ids may name (a registry version carries its own)."""
    options = options or EngineOptions()
    splits = load_splits(task)
    examples = splits.get(split)
    if limit is not None:
        examples = examples[:limit]
    async with open_engine(task, splits, options, callbacks, demos=demos) as engine:
        report = await engine.evaluate(candidate or task.seed_candidate(), examples,
                                       label=f"eval {split}")
    return EvalRun(task, split, model_config(task, options.model).spec, splits, report)


def run_eval(task: Task, **kwargs: Any) -> EvalRun:
    return asyncio.run(evaluate_task(task, **kwargs))
