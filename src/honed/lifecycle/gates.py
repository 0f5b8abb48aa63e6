"""Quality gates: thresholds on an evaluation, each with an action for when it fails.

A gate compares one metric of an ``EvalRun`` with a ``min`` or ``max`` (see
``task.gate_specs.GateSpec``). ``regression`` is production score - this score, paired on the
same examples, so it needs a production evaluation; without one it is skipped (and says so).
The outcome is the worst action among the failed gates::

    PASS (exit 0)   WARN (exit 0)   FAIL (exit 1)   BLOCK_DEPLOY (exit 3)

A gate that cannot be measured (nothing scored) fails: a gate never passes on no evidence.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, get_args

from honed.engine.evaluate import EvalRun, evaluate_task
from honed.engine.results import paired_diff
from honed.engine.runner import EvalReport
from honed.engine.session import EngineOptions
from honed.errors import ConfigError
from honed.lifecycle.judges.reference import with_judges
from honed.task.eval_specs import eval_name
from honed.task.gate_specs import Action, GateSpec
from honed.task.task import Task
from honed.types import Candidate

Outcome = Literal["PASS", "WARN", "FAIL", "BLOCK_DEPLOY"]
ACTIONS: tuple[str, ...] = get_args(Action)
EXIT_CODES: dict[str, int] = {"PASS": 0, "WARN": 0, "FAIL": 1, "BLOCK_DEPLOY": 3}
_SEVERITY = {"WARN": 1, "FAIL": 2, "BLOCK_DEPLOY": 3}
_EPS = 1e-9  # means of 0/1 scores are not exact decimals


@dataclass(frozen=True)
class GateResult:
    gate: GateSpec
    value: float | None
    passed: bool | None  # None: skipped (no production evaluation for a regression gate)
    detail: str = ""

    @property
    def status(self) -> str:
        return "skip" if self.passed is None else ("pass" if self.passed else "fail")

    @property
    def threshold(self) -> float:
        bound = self.gate.min if self.gate.min is not None else self.gate.max
        return float(bound if bound is not None else "nan")  # GateSpec: exactly one is set

    def to_dict(self) -> dict[str, Any]:
        g = self.gate
        return {"gate": g.label, "metric": g.metric, "eval": g.eval,
                "bound": "min" if g.min is not None else "max", "threshold": self.threshold,
                "value": self.value, "status": self.status, "passed": self.passed,
                "action": g.action, "detail": self.detail}


@dataclass(frozen=True)
class GateReport:
    results: tuple[GateResult, ...]
    split: str
    candidate_id: str
    score: float
    ci95: tuple[float, float]
    n: int
    production: dict[str, Any] | None = None
    notes: tuple[str, ...] = ()
    errors: int = 0

    @property
    def outcome(self) -> Outcome:
        failed = [r.gate.action for r in self.results if r.passed is False]
        if not failed:
            return "PASS"
        return max(failed, key=_SEVERITY.__getitem__)

    @property
    def exit_code(self) -> int:
        return EXIT_CODES[self.outcome]

    @property
    def blocked(self) -> list[str]:
        """Labels of the failed BLOCK_DEPLOY gates: what keeps the prompt from production."""
        return [r.gate.label for r in self.results
                if r.passed is False and r.gate.action == "BLOCK_DEPLOY"]

    def to_dict(self) -> dict[str, Any]:
        return {"outcome": self.outcome, "exit_code": self.exit_code, "split": self.split,
                "candidate_id": self.candidate_id, "score": self.score,
                "ci95": list(self.ci95), "n": self.n, "errors": self.errors,
                "production": self.production,
                "gates": [r.to_dict() for r in self.results], "notes": list(self.notes)}


@dataclass(frozen=True)
class Thresholds:
    """Gates given on the command line; they add to the task's ``gates:``."""

    min_score: float | None = None
    max_regression: float | None = None
    max_cost_per_example: float | None = None
    max_p95_latency: float | None = None
    max_error_rate: float | None = None
    action: str = "FAIL"

    def gates(self, *, has_baseline: bool = True) -> list[GateSpec]:
        if self.max_regression is not None and not has_baseline:
            raise ConfigError("--max-regression needs a production prompt to compare with",
                              field="--max-regression",
                              fix="add --against NAME@production (or a task file / run id)")
        action = self.action.strip().upper().replace("-", "_")
        if action not in ACTIONS:
            raise ConfigError(f"unknown gate action {self.action!r}", field="--action",
                              fix=f"use one of: {', '.join(ACTIONS)}")
        pairs: list[tuple[str, str, float | None]] = [
            ("score", "min", self.min_score), ("regression", "max", self.max_regression),
            ("cost_per_example", "max", self.max_cost_per_example),
            ("latency_p95_s", "max", self.max_p95_latency),
            ("error_rate", "max", self.max_error_rate)]
        return [GateSpec.model_validate({"metric": metric, bound: value, "action": action})
                for metric, bound, value in pairs if value is not None]


def validate_gates(task: Task, gates: Sequence[GateSpec]) -> None:
    """There is at least one gate, and eval gates name one of the task's evals."""
    names = [eval_name(spec) for spec in task.evals]
    for index, gate in enumerate(gates):
        if gate.metric == "eval" and gate.eval not in names:
            raise ConfigError(f"gate {gate.label!r} names unknown eval {gate.eval!r}",
                              file=task.source, field=f"gates.{index}.eval",
                              fix=f"the task's evals are: {', '.join(names)}")
    if not gates:
        raise ConfigError("no quality gates to check", file=task.source, field="gates",
                          fix="declare gates: in the task or pass --min-score, "
                              "--max-regression, --max-error-rate, ...")


def _attempted(report: EvalReport) -> int:
    s = report.summary
    return s.n_total - s.skipped


def measure(gate: GateSpec, report: EvalReport, production: EvalReport | None = None, *,
            seed: int = 0) -> tuple[float | None, str]:
    """The gate's metric on ``report``: (value or None when unmeasurable, detail)."""
    s, attempted = report.summary, _attempted(report)
    if gate.metric == "regression":
        if production is None:
            return None, "no production prompt to compare with (--against)"
        diff, (lo, hi), n = paired_diff(report.scores(), production.scores(), seed=seed)
        if n == 0:
            return None, "no example scored by both prompts"
        return diff, f"{n} paired, 95% CI [{lo:+.3f}, {hi:+.3f}]"
    if attempted == 0:
        return None, "no example was evaluated"
    if gate.metric == "cost_per_example":
        return s.cost_usd / attempted, f"${s.cost_usd:.4g} / {attempted} examples"
    if gate.metric == "latency_p95_s":
        return s.latency_p95_s, f"nearest rank; p50 {s.latency_p50_s:.3f}s"
    if gate.metric == "error_rate":
        return s.errors / attempted, f"{s.errors}/{attempted} errored"
    if s.n == s.errors:  # errors count as failures in a score, but a score of errors alone
        return None, "nothing was scored (every example errored)"  # is no measurement
    if gate.metric == "eval":
        value = s.per_eval.get(str(gate.eval))
        return value, f"n={s.n}" if value is not None else f"eval {gate.eval!r} scored nothing"
    return s.score, f"95% CI [{s.ci95[0]:.3f}, {s.ci95[1]:.3f}] n={s.n}"


def check(gate: GateSpec, value: float | None, detail: str, *,
          skippable: bool = False) -> GateResult:
    if value is None:
        return GateResult(gate, None, None if skippable else False, detail)
    if gate.min is not None:
        return GateResult(gate, value, value >= gate.min - _EPS, detail)
    limit = gate.max if gate.max is not None else float("inf")
    return GateResult(gate, value, value <= limit + _EPS, detail)


def check_report(report: EvalReport, gates: Sequence[GateSpec], *, split: str = "test",
                 production: EvalReport | None = None, seed: int = 0) -> GateReport:
    results = []
    for gate in gates:
        value, detail = measure(gate, report, production, seed=seed)
        skippable = gate.metric == "regression" and production is None
        results.append(check(gate, value, detail, skippable=skippable))
    s = report.summary
    notes = []
    if report.stopped:
        notes.append(f"partial evaluation: budget limit {report.stopped} reached, "
                     f"{s.skipped} examples skipped")
    prod = None
    if production is not None:
        p = production.summary
        prod = {"candidate_id": production.candidate.id, "score": p.score,
                "ci95": list(p.ci95), "n": p.n, "errors": p.errors}
    return GateReport(tuple(results), split, report.candidate.id, s.score, s.ci95, s.n, prod,
                      tuple(notes), s.errors)


def check_gates(run: EvalRun, gates: Sequence[GateSpec], *, production: EvalRun | None = None,
                seed: int = 0) -> GateReport:
    """Gates on an evaluation (and optionally production's, on the same examples)."""
    return check_report(run.report, gates, split=run.split,
                        production=production.report if production else None, seed=seed)


@dataclass(frozen=True)
class GateRun:
    """What ``honed gate`` evaluates: which prompt, against what, on which examples."""

    candidate: Candidate | None = None  # default: the task's own prompt
    against: Candidate | None = None
    split: str = "test"
    limit: int | None = None
    options: EngineOptions = field(default_factory=EngineOptions)


async def run_gates(task: Task, gates: Sequence[GateSpec], plan: GateRun) -> GateReport:
    """Evaluate the prompt (and the production prompt, same examples) and check the gates."""
    validate_gates(task, gates)
    task = with_judges(task, plan.options)
    run = await evaluate_task(task, split=plan.split, limit=plan.limit, options=plan.options,
                              candidate=plan.candidate)
    production = None
    if plan.against is not None:
        production = await evaluate_task(task, split=plan.split, limit=plan.limit,
                                         options=plan.options, candidate=plan.against)
    return check_gates(run, gates, production=production, seed=plan.options.seed)
