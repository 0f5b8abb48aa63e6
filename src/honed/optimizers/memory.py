"""What a search remembers between iterations.

``OptimizationMemory`` is the proposer's two-tier memory: accumulated lessons (long term), each
computed from the score delta of a proposal and the proposer's own stated rationale
(``+ added explicit format -> +10% on train``, ``- over-specified edge cases -> regression -20%``),
and detailed summaries of the last iterations (short term). ``render()`` is the text the next
proposal sees.

``EvalMemo`` keeps the evaluations of this search so that re-scoring a candidate on the same
examples costs nothing (the context replays stored evaluations against the budget).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field

from honed.evals.normalize import shorten
from honed.optimizers.base import Scored, SearchContext
from honed.types import Candidate, Example

RATIONALE_CHARS = 160
LATERAL = 1e-9


@dataclass(frozen=True)
class Attempt:
    """One proposal's outcome against its parent on the same examples."""

    rationale: str
    split: str
    before: float
    after: float
    accepted: bool
    fixed: int = 0
    broken: int = 0
    reason: str = ""

    @property
    def delta(self) -> float:
        return self.after - self.before


@dataclass(frozen=True)
class IterationSummary:
    iteration: int
    phase: str
    accepted: bool
    change: str
    targets: str
    split: str
    before: float
    after: float
    fixed: int = 0
    broken: int = 0
    note: str = ""

    def render(self) -> str:
        mark = "ACCEPTED" if self.accepted else "REJECTED"
        lines = [f"Iteration {self.iteration} ({self.phase}): {mark}",
                 f"  Change made: {self.change or '(no rationale given)'}",
                 f"  Target issues: {self.targets or '(none)'}",
                 f"  Result: {self.split} {self.before:.0%} -> {self.after:.0%}"]
        if self.fixed or self.broken:
            lines.append(f"          fixed {self.fixed} failure(s), broke {self.broken} case(s)")
        if self.note:
            lines.append(f"  Note: {self.note}")
        return "\n".join(lines)


def lesson(attempt: Attempt) -> str:
    """A one-line lesson from an attempt: what was tried and what it did."""
    change = shorten(" ".join(attempt.rationale.split()), RATIONALE_CHARS) or "unexplained change"
    delta = attempt.delta
    if attempt.reason:
        return f"- {change} -> rejected: {attempt.reason}"
    if delta > LATERAL:
        verdict = "kept" if attempt.accepted else "not the best of its round"
        return f"+ {change} -> {delta:+.0%} on {attempt.split} ({verdict})"
    if delta < -LATERAL:
        return f"- {change} -> regression {delta:+.0%} on {attempt.split}"
    if attempt.accepted:
        return f"= {change} -> no change on {attempt.split} (lateral move kept)"
    return f"- {change} -> no gain on {attempt.split}"


@dataclass
class OptimizationMemory:
    """Accumulated lessons plus the last ``recent`` iterations in detail."""

    recent: int = 3
    max_lessons: int = 12
    lessons: list[str] = field(default_factory=list)
    history: list[IterationSummary] = field(default_factory=list)

    def learn(self, attempt: Attempt) -> str:
        text = lesson(attempt)
        if text in self.lessons:
            self.lessons.remove(text)
        self.lessons.append(text)
        del self.lessons[:-self.max_lessons]
        return text

    def add(self, summary: IterationSummary) -> None:
        self.history.append(summary)

    def render(self) -> str:
        if not self.lessons and not self.history:
            return "(no earlier iterations)"
        lines = ["Accumulated lessons:"]
        lines += [f"  {text}" for text in self.lessons] or ["  (none yet)"]
        lines += ["", "Recent iteration history:"]
        lines += [s.render() for s in self.history[-self.recent:]] or ["  (none yet)"]
        lines += ["", "Build on what worked, avoid what failed, address the current issues."]
        return "\n".join(lines)


@dataclass
class EvalMemo:
    """This search's evaluations by (candidate, split, examples)."""

    scores: dict[tuple[str, str, tuple[str, ...]], Scored] = field(default_factory=dict)

    @staticmethod
    def key(candidate: Candidate, split: str,
            examples: Sequence[Example]) -> tuple[str, str, tuple[str, ...]]:
        return candidate.id, split, tuple(ex.id for ex in examples)

    def get(self, candidate: Candidate, split: str,
            examples: Sequence[Example]) -> Scored | None:
        return self.scores.get(self.key(candidate, split, examples))

    def put(self, scored: Scored, examples: Sequence[Example]) -> None:
        self.scores[self.key(scored.candidate, scored.split, examples)] = scored

    async def evaluate(self, ctx: SearchContext, candidate: Candidate, split: str,
                       examples: Sequence[Example], *, origin: str = "",
                       parent: str | None = None) -> tuple[Scored, bool]:
        """(scored, fresh): fresh is False when this search already had the evaluation."""
        known = self.get(candidate, split, examples)
        if known is not None:
            return known, False
        scored = await ctx.evaluate(candidate, split, examples, origin=origin, parent=parent)
        self.put(scored, examples)
        return scored, True

    async def evaluate_many(self, ctx: SearchContext, candidates: Sequence[Candidate],
                            split: str, examples: Sequence[Example], *, origin: str = "",
                            parent: str | None = None) -> list[tuple[Scored, bool]]:
        """Evaluate candidates in parallel, as many as the budget covers (in order).

        When not even the first new one fits, its evaluation raises ``BudgetExhausted``.
        """
        per = len(examples) * ctx.calls_per_example()
        left = ctx.remaining()
        fits: list[Candidate] = []
        spent = 0
        for candidate in candidates:
            new = self.get(candidate, split, examples) is None
            if new and left is not None and spent + per > left and fits:
                break
            fits.append(candidate)
            spent += per if new else 0
        return list(await asyncio.gather(*(
            self.evaluate(ctx, c, split, examples, origin=origin, parent=parent)
            for c in fits)))
