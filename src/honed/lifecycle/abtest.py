"""Offline A/B tests: two prompts on the same examples, paired statistics, an honest verdict.

The statistics are pure functions (``honed.stats``) over per-example results:

- paired difference of scores (B - A) with a 95% bootstrap CI;
- exact McNemar test on pass/fail (binomial test on the discordant pairs);
- paired t-test and Wilcoxon signed-rank test on graded scores.

``test="auto"`` picks McNemar when every score is 0 or 1, else Wilcoxon (robust for bounded,
skewed scores). A winner is named only when the chosen test is significant at ``alpha``.
Examples that errored for either prompt are left out of the pairing and counted per variant.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Literal

from honed.engine.evaluate import evaluate_task
from honed.engine.results import ExampleResult, summarize
from honed.engine.session import EngineOptions
from honed.errors import ConfigError
from honed.lifecycle.judges.reference import with_judges
from honed.lifecycle.registry import PromptRegistry
from honed.lifecycle.specs import Resolved, kind_of, resolve_spec
from honed.stats.bootstrap import paired_diff
from honed.stats.paired import TITLES, SigTest, mcnemar_exact, paired_ttest, wilcoxon_signed_rank
from honed.task.task import Task
from honed.tracking.store import RunStore
from honed.types import Candidate

TestKind = Literal["auto", "mcnemar", "ttest", "wilcoxon"]
TESTS = ("auto", "mcnemar", "ttest", "wilcoxon")
TEST_TITLES = {name: TITLES[name] for name in ("mcnemar", "ttest", "wilcoxon")}
NO_DIFFERENCE = "no significant difference"


def is_binary(*samples: Sequence[float]) -> bool:
    return all(float(x) in (0.0, 1.0) for s in samples for x in s)


@dataclass(frozen=True)
class VariantStats:
    label: str
    candidate_id: str
    score: float
    ci95: tuple[float, float]
    n: int
    n_total: int
    errors: int
    skipped: int
    pass_rate: float
    cost_usd: float
    cost_per_example_usd: float
    latency_p50_s: float
    latency_p95_s: float

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "ci95": list(self.ci95)}


def variant_stats(label: str, candidate_id: str, results: Sequence[ExampleResult], *,
                  seed: int = 0) -> VariantStats:
    """Score with CI, errors, cost and nearest-rank latency percentiles of one variant."""
    s = summarize(results, seed=seed)
    attempted = s.n_total - s.skipped
    return VariantStats(label, candidate_id, s.score, s.ci95, s.n, s.n_total, s.errors,
                        s.skipped, s.pass_rate, s.cost_usd,
                        s.cost_usd / attempted if attempted else 0.0,
                        s.latency_p50_s, s.latency_p95_s)


@dataclass(frozen=True)
class Comparison:
    n_paired: int
    diff: float  # mean of B - A over the paired examples
    ci95: tuple[float, float]
    tests: Mapping[str, SigTest]
    chosen: str
    alpha: float
    winner: str | None  # "A", "B" or None
    verdict: str

    @property
    def p_value(self) -> float:
        return self.tests[self.chosen].p_value

    @property
    def significant(self) -> bool:
        return self.p_value < self.alpha

    def to_dict(self) -> dict[str, Any]:
        return {"n_paired": self.n_paired, "diff": self.diff, "ci95": list(self.ci95),
                "test": self.chosen, "p_value": self.p_value, "alpha": self.alpha,
                "significant": self.significant, "winner": self.winner,
                "verdict": self.verdict,
                "tests": {k: v.to_dict() for k, v in self.tests.items()}}


def check_alpha(alpha: float) -> float:
    if not 0 < alpha < 1:
        raise ConfigError(f"alpha must be between 0 and 1, got {alpha}", field="--alpha",
                          fix="use e.g. 0.05")
    return alpha


def choose_test(test: str, binary: bool) -> str:
    if test not in TESTS:
        raise ConfigError(f"unknown test {test!r}", field="--test",
                          fix=f"use one of: {', '.join(TESTS)}")
    if test == "auto":
        return "mcnemar" if binary else "wilcoxon"
    return test


def compare(a: Sequence[ExampleResult], b: Sequence[ExampleResult], *, alpha: float = 0.05,
            test: str = "auto", seed: int = 0) -> Comparison:
    """Paired comparison of two variants' per-example results (matched by example id)."""
    check_alpha(alpha)
    a_by = {r.example_id: r for r in a if r.value is not None}
    b_by = {r.example_id: r for r in b if r.value is not None}
    ids = [i for i in a_by if i in b_by]
    sa = [float(a_by[i].value) for i in ids]  # type: ignore[arg-type]
    sb = [float(b_by[i].value) for i in ids]  # type: ignore[arg-type]
    diff, ci, n = paired_diff(dict(zip(ids, sa, strict=True)), dict(zip(ids, sb, strict=True)),
                              seed=seed)
    tests = {"mcnemar": mcnemar_exact([a_by[i].passed for i in ids],
                                      [b_by[i].passed for i in ids]),
             "ttest": paired_ttest(sa, sb), "wilcoxon": wilcoxon_signed_rank(sa, sb)}
    chosen = choose_test(test, is_binary(sa, sb))
    winner = _winner(tests[chosen], diff, alpha)
    return Comparison(n, diff, ci, tests, chosen, alpha, winner,
                      _verdict(winner, tests[chosen], diff, ci, alpha, n))


def _winner(result: SigTest, diff: float, alpha: float) -> str | None:
    if result.p_value >= alpha:
        return None
    if result.name == "mcnemar":
        a_only, b_only = result.detail["a_only"], result.detail["b_only"]
        return "B" if b_only > a_only else "A" if a_only > b_only else None
    return "B" if diff > 0 else "A" if diff < 0 else None


def _verdict(winner: str | None, result: SigTest, diff: float, ci: tuple[float, float],
             alpha: float, n: int) -> str:
    title = TEST_TITLES[result.name]
    if n == 0:
        return f"{NO_DIFFERENCE} (no example was scored for both prompts)"
    if winner is None:
        return f"{NO_DIFFERENCE} ({title} p={result.p_value:.3g} >= alpha {alpha:g})"
    return (f"{winner} wins: B - A = {diff:+.3f} (95% CI [{ci[0]:+.3f}, {ci[1]:+.3f}], "
            f"n={n}), {title} p={result.p_value:.3g} < alpha {alpha:g}")


@dataclass(frozen=True)
class ABResult:
    task: str
    split: str
    model: str
    a: VariantStats
    b: VariantStats
    comparison: Comparison
    sources: Mapping[str, Any] = field(default_factory=dict)
    notes: tuple[str, ...] = ()
    model_b: str | None = None  # B's model (the same as ``model`` unless compared)

    @property
    def winner(self) -> str | None:
        return self.comparison.winner

    def to_dict(self) -> dict[str, Any]:
        return {"task": self.task, "split": self.split, "model": self.model,
                "model_b": self.model_b or self.model,
                "a": self.a.to_dict(), "b": self.b.to_dict(),
                **self.comparison.to_dict(), "sources": dict(self.sources),
                "notes": list(self.notes)}


def resolve_pair(a_spec: str, b_spec: str, *, task: Task | None = None,
                 registry: PromptRegistry | None = None,
                 store: RunStore | None = None) -> tuple[Resolved, Resolved]:
    """Resolve A and B into one task: ``task`` if given, else the first spec that brings one
    (a task file or a run); registry references alone need ``task``."""
    if task is None:
        order = [s for s in (a_spec, b_spec) if kind_of(s) != "registry"]
        if not order:
            raise ConfigError("A and B are both registry references: which data and evals?",
                              field="--task", fix="pass --task TASK.yaml")
        task = resolve_spec(order[0], registry=registry, store=store).task
    return (resolve_spec(a_spec, registry=registry, store=store, base_task=task),
            resolve_spec(b_spec, registry=registry, store=store, base_task=task))


async def abtest_specs(a_spec: str, b_spec: str, plan: ABPlan, *, task: Task | None = None,
                       registry: PromptRegistry | None = None,
                       store: RunStore | None = None) -> ABResult:
    """``run_abtest`` for two specs (task files, ``NAME@ALIAS``, ``NAME/VERSION``, run ids)."""
    a, b = resolve_pair(a_spec, b_spec, task=task, registry=registry, store=store)
    result = await run_abtest(a.task, a.candidate, b.candidate, plan)
    return replace(result, sources={"A": a.to_dict(), "B": b.to_dict()})


@dataclass(frozen=True)
class ABPlan:
    """How to run an A/B test: which examples, which test, which engine options."""

    split: str = "test"
    limit: int | None = None
    alpha: float = 0.05
    test: str = "auto"
    labels: tuple[str, str] = ("A", "B")
    options: EngineOptions = field(default_factory=EngineOptions)
    model_b: str | None = None  # B's model, to compare models on one prompt (default: A's)


async def run_abtest(task: Task, a: Candidate, b: Candidate,
                     plan: ABPlan | None = None) -> ABResult:
    """Evaluate both prompts on the same examples of ``task`` and compare them."""
    plan = plan or ABPlan()
    check_alpha(plan.alpha)
    choose_test(plan.test, binary=True)  # reject an unknown test before spending calls
    task = with_judges(task, plan.options)
    seed = plan.options.seed
    run_a = await evaluate_task(task, split=plan.split, limit=plan.limit,
                                options=plan.options, candidate=a)
    options_b = (plan.options if plan.model_b is None
                 else plan.options.model_copy(update={"model": plan.model_b}))
    run_b = await evaluate_task(task, split=plan.split, limit=plan.limit,
                                options=options_b, candidate=b)
    ra, rb = run_a.report, run_b.report
    notes = []
    if a.id == b.id and run_a.model == run_b.model:
        notes.append("A and B are the same prompt on the same model")
    for label, report in zip(plan.labels, (ra, rb), strict=True):
        if report.stopped:
            notes.append(f"{label}: partial, budget limit {report.stopped} reached")
    return ABResult(task.name, plan.split, run_a.model,
                    variant_stats(plan.labels[0], a.id, ra.results, seed=seed),
                    variant_stats(plan.labels[1], b.id, rb.results, seed=seed),
                    compare(ra.results, rb.results, alpha=plan.alpha, test=plan.test,
                            seed=seed), notes=tuple(notes), model_b=run_b.model)
