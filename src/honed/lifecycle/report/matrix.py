"""Per-example results of a run's candidates: the examples × prompts matrix, the per-eval
breakdown and the Pareto front, from the run store's checkpointed evaluations."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from honed.lifecycle.report.data import (
    Cell,
    CellState,
    Column,
    EvalCell,
    EvalRow,
    FrontPoint,
    Matrix,
    MatrixRow,
    SplitScore,
)

_ERRORS = ("provider", "scorer", "prompt")


@dataclass
class Evaluated:
    """Everything recorded for one candidate on one split: the merged per-example results and
    the summary of its largest evaluation."""

    candidate_id: str
    split: str
    results: dict[str, dict[str, Any]] = field(default_factory=dict)  # example id -> result
    summary: dict[str, Any] = field(default_factory=dict)
    n: int = 0

    def add(self, evaluation: Mapping[str, Any]) -> None:
        for result in evaluation["results"]:
            self.results[result["example_id"]] = result
        if evaluation["n"] >= self.n:
            self.n, self.summary = int(evaluation["n"]), dict(evaluation["summary"])

    @property
    def score(self) -> SplitScore:
        s = self.summary
        ci = s.get("ci95")
        return SplitScore(float(s.get("score", 0.0)), int(s.get("n", self.n)),
                          int(s.get("errors", 0)), (float(ci[0]), float(ci[1])) if ci else None)

    def per_call(self, key: str) -> float:
        """A summary total per attempted call (prompt tokens and cost, as the search saw
        them)."""
        s = self.summary
        calls = max(1, int(s.get("n_total", self.n)) - int(s.get("skipped", 0)))
        return float(s.get(key, 0.0)) / calls


def by_candidate(evaluations: Sequence[Mapping[str, Any]], split: str) -> dict[str, Evaluated]:
    """Candidate id -> its merged evaluations on ``split``, in the order they were first
    evaluated."""
    found: dict[str, Evaluated] = {}
    for evaluation in evaluations:
        if evaluation["split"] != split:
            continue
        cid = evaluation["candidate_id"]
        found.setdefault(cid, Evaluated(cid, split)).add(evaluation)
    return found


def cell(result: Mapping[str, Any]) -> Cell:
    """One recorded ``ExampleResult`` as a matrix cell."""
    kind = result.get("error_kind")
    state: CellState
    if kind == "budget":
        state = "skipped"
    elif result.get("score") is None and (kind in _ERRORS or result.get("error")):
        state = "error"
    else:
        state = "pass" if result.get("passed") else "fail"
    evals = tuple(EvalCell(name, e.get("score"), bool(e.get("passed")), e.get("feedback") or "",
                           (e.get("labels") or {}).get("category"))
                  for name, e in sorted((result.get("evals") or {}).items()))
    return Cell(state, result.get("score"), str(result.get("output") or ""), result.get("error"),
                evals, int(result.get("input_tokens") or 0),
                int(result.get("output_tokens") or 0), float(result.get("latency_s") or 0.0),
                bool(result.get("cached")))


def build_matrix(split: str, columns: Sequence[Column],
                 results: Sequence[Mapping[str, Mapping[str, Any]] | None],
                 inputs: Mapping[str, Mapping[str, Any]], hidden: int = 0) -> Matrix:
    """Examples (in the order first seen) × ``columns``; ``results[i]`` is column i's
    example id -> result (None: nothing recorded)."""
    order = list(dict.fromkeys(ex for per in results if per for ex in per))
    rows = []
    for example_id in order:
        cells = tuple(cell(per[example_id]) if per and example_id in per else None
                      for per in results)
        fields = inputs.get(example_id)
        rows.append(MatrixRow(example_id, dict(fields) if fields is not None else None, cells))
    return Matrix(split, tuple(columns), tuple(rows), hidden)


def eval_rows(results: Sequence[Evaluated | None]) -> tuple[EvalRow, ...]:
    """Each eval's mean score per column (from the evaluation's summary) and its failures by
    category (an eval's ``labels.category``, else ``failed``; call errors as ``error``)."""
    names = sorted({name for ev in results if ev for name in ev.summary.get("per_eval", {})}
                   | {name for ev in results if ev for r in ev.results.values()
                      for name in r.get("evals") or {}})
    rows = []
    for name in names:
        scores = tuple(None if ev is None else ev.summary.get("per_eval", {}).get(name)
                       for ev in results)
        rows.append(EvalRow(name, scores, tuple(_failures(ev, name) for ev in results)))
    return tuple(rows)


def _failures(ev: Evaluated | None, name: str) -> dict[str, int]:
    if ev is None:
        return {}
    counts: Counter[str] = Counter()
    for result in ev.results.values():
        one = (result.get("evals") or {}).get(name)
        if one is None:
            if result.get("score") is None and result.get("error_kind") in _ERRORS:
                counts["error"] += 1
            continue
        if not one.get("passed"):
            counts[(one.get("labels") or {}).get("category") or "failed"] += 1
    return dict(counts.most_common())


def front(columns: Sequence[Column], recorded: Sequence[str] | None) -> tuple[FrontPoint, ...]:
    """Quality against prompt length, cost and latency for every candidate with a val score;
    ``on_front``: the run's own Pareto front (``recorded``), else the non-dominated points on
    (score up, prompt tokens down, cost down)."""
    points = [c for c in columns if c.val is not None and c.prompt_tokens is not None]

    def dominated(a: Column) -> bool:
        def key(c: Column) -> tuple[float, float, float]:
            return (c.val.score if c.val else 0.0, -(c.prompt_tokens or 0.0),
                    -(c.cost_per_example or 0.0))

        return any(all(x >= y for x, y in zip(key(b), key(a), strict=True))
                   and key(b) != key(a) for b in points)

    on = set(recorded) if recorded is not None else {c.candidate_id for c in points
                                                     if not dominated(c)}
    return tuple(FrontPoint(c.candidate_id, c.label, c.val.score if c.val else 0.0,
                            c.prompt_tokens or 0.0, c.cost_per_example or 0.0,
                            c.latency_p50_s or 0.0, c.candidate_id in on) for c in points)
