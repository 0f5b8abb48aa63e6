"""Reflective search: iterative meta-prompt refinement with memory and adaptive acceptance.

Each iteration a reflection model reads rich feedback on the current prompt's failures and the
optimization memory (lessons, recent iterations) and proposes ``candidates_per_iteration``
rewrites, which are evaluated in parallel; the best one that passes the acceptance rule becomes
the current prompt. Acceptance is adaptive: below ``low_score`` a candidate must strictly improve
(no loops at 0%); above it lateral moves (equal scores) are allowed to explore plateaus.

Two phases:

- **train**: feedback and acceptance on train: the whole split, or a fresh minibatch each
  iteration when ``minibatch_size`` is set (or, unset, when train is larger than the context's
  minibatch size); every accepted candidate is also scored on val,
  so the search's best is always selected on val. Ends when train passes, after ``patience``
  iterations without improvement, or when iterations run out.
- **validation**: feedback from val failures (descriptive patterns); each proposal is first
  re-checked on the train reference set and rejected if it scores lower there; survivors are
  scored on val and the best (laterals allowed) is kept. After a round whose proposals all broke
  train, the next proposal gets combined feedback: the val patterns plus the train cases to keep.

The search stops when val passes, on budget (``BudgetExhausted`` propagates), after ``patience``
iterations without improvement, or after ``max_iterations`` iterations in all.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

from pydantic import Field, PrivateAttr

from honed.engine.results import ExampleResult
from honed.errors import ConfigError
from honed.evals.normalize import shorten
from honed.optimizers.base import Scored, SearchContext
from honed.optimizers.feedback import (
    ExampleView,
    categories,
    combined_feedback,
    describe,
    failed_results,
    fixes,
    regressions,
)
from honed.optimizers.memory import Attempt, EvalMemo, IterationSummary, OptimizationMemory
from honed.optimizers.proposer import Proposal, ProposalStats, Proposer, ProposingOptimizer
from honed.types import Candidate, Example

LOW_SCORE = 0.10
VAL_EXAMPLES = 0  # validation feedback is descriptive: patterns, no verbatim val cases


def should_accept(new: Scored, current: Scored, *, low_score: float = LOW_SCORE) -> bool:
    """Strict improvement while the current score is below ``low_score``, laterals above."""
    if current.score < low_score:
        return new.objective > current.objective
    return new.objective >= current.objective


def select(current: Scored, scored: Sequence[Scored], *,
           low_score: float = LOW_SCORE) -> Scored | None:
    """The best acceptable candidate (the first of equals), or None."""
    best: Scored | None = None
    for candidate in scored:
        if not should_accept(candidate, current, low_score=low_score):
            continue
        if best is None or candidate.objective > best.objective:
            best = candidate
    return best


def targets(scored: Scored) -> str:
    return ", ".join(f"{n} {name}" for name, n in categories(scored).items())


@dataclass
class _Round:
    """The outcome of one iteration, for the memory and the stall counter."""

    accepted: Scored | None
    improved: bool
    broke_train: list[Scored]


class ReflectiveSearch(ProposingOptimizer):
    """Reflective, multi-candidate refinement (needs a reflection model)."""

    name: ClassVar[str] = "reflective"
    needs_reflection: ClassVar[bool] = True
    candidates_per_iteration: int = Field(3, ge=1, le=10, description="rewrites proposed and "
                                          "evaluated each iteration")
    patience: int = Field(3, ge=1, description="iterations without improvement before a phase "
                          "ends")
    max_iterations: int = Field(20, ge=1, description="iterations at most, both phases")
    minibatch_size: int | None = Field(None, ge=1, description="train examples per iteration; "
                                       "default: all of train, or the run's --minibatch when "
                                       "train is larger")
    low_score: float = Field(LOW_SCORE, ge=0, le=1, description="below this score a rewrite "
                             "must strictly improve; at or above it, ties are accepted")
    _memory: OptimizationMemory = PrivateAttr(default_factory=OptimizationMemory)

    @property
    def memory(self) -> OptimizationMemory:
        """The last search's memory: lessons and iteration summaries."""
        return self._memory

    async def search(self, ctx: SearchContext, seed: Candidate) -> None:
        if ctx.reflection is None:
            raise ConfigError("the reflective optimizer needs a reflection model",
                              field="--reflection-model",
                              fix="pass --reflection-model SPEC (e.g. openai:gpt-4.1-mini)")
        self._memory, self._stats = OptimizationMemory(), ProposalStats()
        run = _Run(self, ctx, seed)
        await run.start()
        if await run.train_phase():
            await run.val_phase()


class _Run:
    """The state of one search: current candidate, memo, memory, proposer."""

    def __init__(self, opts: ReflectiveSearch, ctx: SearchContext, seed: Candidate) -> None:
        self.opts, self.ctx, self.seed = opts, ctx, seed
        self.view = ExampleView.for_search(ctx, seed)
        self.proposer = Proposer(seed, stats=opts.stats)
        self.memory, self.memo = opts.memory, EvalMemo()
        self.current = seed
        self.tried: set[str] = {seed.id}
        self.iterations = 0

    # evaluation ----------------------------------------------------------------------------
    async def score(self, candidate: Candidate, split: str,
                    examples: Sequence[Example] | None = None, *, phase: str,
                    note: str) -> Scored:
        examples = tuple(examples if examples is not None else self.ctx.examples(split))
        scored, fresh = await self.memo.evaluate(self.ctx, candidate, split, examples,
                                                 origin="reflective")
        if fresh:
            self.ctx.record(scored, accepted=True, phase=phase, note=note)
        return scored

    async def start(self) -> None:
        best = self.ctx.best
        if best is not None and best.candidate.id == self.seed.id and best.split == "val":
            self.memo.put(best, self.ctx.examples("val"))
        await self.score(self.seed, "val", phase="seed", note="seed prompt")

    @property
    def whole_train(self) -> bool:
        size = self.opts.minibatch_size
        return size is None and len(self.ctx.examples("train")) <= self.ctx.minibatch_size

    def train_batch(self) -> tuple[Example, ...]:
        if self.whole_train:
            return self.ctx.examples("train")
        return self.ctx.minibatch("train", self.opts.minibatch_size or self.ctx.minibatch_size)

    def has_iterations(self) -> bool:
        return self.iterations < self.opts.max_iterations

    def next_iteration(self) -> None:
        self.iterations += 1
        self.ctx.iteration += 1

    async def propose(self, feedback: str) -> list[Proposal]:
        proposals = await self.proposer.propose(
            self.ctx, self.current, feedback, self.memory.render(),
            n=self.opts.candidates_per_iteration, exclude=self.tried)
        self.tried.update(p.candidate.id for p in proposals)
        return proposals

    async def evaluate(self, proposals: Sequence[Proposal], split: str,
                       examples: Sequence[Example]) -> list[Scored]:
        pairs = await self.memo.evaluate_many(
            self.ctx, [p.candidate for p in proposals], split, examples,
            origin="reflective", parent=self.current.id)
        return [scored for scored, _ in pairs]

    # train phase ---------------------------------------------------------------------------
    async def train_phase(self) -> bool:
        """Refine on train; False when the search should stop (iterations spent)."""
        self.ctx.phase("reflective:train", "refining on train failures")
        stall = 0
        while stall < self.opts.patience:
            if not self.has_iterations():
                return False
            batch = self.train_batch()
            parent = await self.score(self.current, "train", batch, phase="train",
                                      note="current prompt on train")
            if not failed_results(parent) and self.whole_train:
                return True
            self.next_iteration()
            outcome = await self.train_round(parent, batch)
            stall = 0 if outcome.improved else stall + 1
        return True

    async def train_round(self, parent: Scored, batch: Sequence[Example]) -> _Round:
        if not failed_results(parent):
            self.summarize("train", parent, None, [], note="minibatch already passes")
            return _Round(None, False, [])
        proposals = await self.propose(describe(parent, self.view))
        scored = await self.evaluate(proposals, "train", batch)
        chosen = select(parent, scored, low_score=self.opts.low_score)
        self.judge("train", parent, proposals, scored, chosen)
        if chosen is not None:
            self.current = chosen.candidate
            await self.score(chosen.candidate, "val", phase="train",
                             note="accepted on train; scored on val")
        self.summarize("train", parent, chosen, proposals)
        improved = chosen is not None and chosen.objective > parent.objective
        return _Round(chosen, improved, [])

    # validation phase ----------------------------------------------------------------------
    async def val_phase(self) -> None:
        self.ctx.phase("reflective:val", "refining on val, keeping train")
        reference = self.train_batch()
        current_val = await self.score(self.current, "val", phase="val", note="current on val")
        current_train = await self.score(self.current, "train", reference, phase="val",
                                         note="current on the train reference set")
        stall, combined = 0, ""
        while stall < self.opts.patience and failed_results(current_val):
            if not self.has_iterations():
                return
            self.next_iteration()
            feedback = combined or describe(current_val, self.view, examples=VAL_EXAMPLES)
            outcome = await self.val_round(current_val, current_train, reference, feedback)
            combined = ""
            if outcome.accepted is not None:
                current_val = outcome.accepted
                current_train = await self.score(self.current, "train", reference,
                                                 phase="val", note="current on train")
            elif outcome.broke_train:
                combined = self.combined(current_val, current_train, outcome.broke_train)
            stall = 0 if outcome.improved else stall + 1

    async def val_round(self, current_val: Scored, current_train: Scored,
                        reference: Sequence[Example], feedback: str) -> _Round:
        proposals = await self.propose(feedback)
        on_train = await self.evaluate(proposals, "train", reference)
        kept = [s for s in on_train if s.objective >= current_train.objective]
        broke = [s for s in on_train if s.objective < current_train.objective]
        for scored in broke:
            self.reject_for_train(scored, current_train, proposals)
        keep_ids = {s.candidate.id for s in kept}
        survivors = [p for p in proposals if p.candidate.id in keep_ids]
        for scored in kept:
            self.ctx.record(scored, accepted=False, phase="val",
                            note="passes the train check; scored on val next")
        on_val = await self.evaluate(survivors, "val", self.ctx.examples("val"))
        chosen = select(current_val, on_val, low_score=0.0)
        self.judge("val", current_val, survivors, on_val, chosen)
        if chosen is not None:
            self.current = chosen.candidate
        self.summarize("val", current_val, chosen, proposals,
                       note=f"{len(broke)} rejected for breaking train" if broke else "")
        improved = chosen is not None and chosen.objective > current_val.objective
        return _Round(chosen, improved, broke)

    def reject_for_train(self, scored: Scored, current_train: Scored,
                         proposals: Sequence[Proposal]) -> None:
        broken = regressions(current_train, scored)
        note = (f"rejected: train {current_train.score:.2f} -> {scored.score:.2f}, "
                f"broke {len(broken)} train case(s)")
        self.ctx.record(scored, accepted=False, phase="val", note=note)
        self.memory.learn(Attempt(rationale_of(scored, proposals), "train",
                                  current_train.score, scored.score, False,
                                  len(fixes(current_train, scored)), len(broken),
                                  reason=f"broke {len(broken)} train case(s) "
                                         f"({current_train.score:.0%} -> {scored.score:.0%})"))

    def combined(self, current_val: Scored, current_train: Scored,
                 broke: Sequence[Scored]) -> str:
        seen: set[str] = set()
        cases: list[ExampleResult] = []
        for scored in broke:
            for result in regressions(current_train, scored):
                if result.example_id not in seen:
                    seen.add(result.example_id)
                    cases.append(result)
        return combined_feedback(current_val, cases, self.view)

    # bookkeeping ---------------------------------------------------------------------------
    def judge(self, phase: str, parent: Scored, proposals: Sequence[Proposal],
              scored: Sequence[Scored], chosen: Scored | None) -> None:
        """Record every evaluated proposal and learn a lesson from each."""
        for result in scored:
            accepted = chosen is not None and result.candidate.id == chosen.candidate.id
            rationale = rationale_of(result, proposals)
            note = (f"{phase}: {parent.score:.2f} -> {result.score:.2f} "
                    f"({'accepted' if accepted else 'rejected'}); {shorten(rationale, 100)}")
            self.ctx.record(result, accepted=accepted, phase=phase, note=note)
            self.memory.learn(Attempt(rationale, result.split, parent.score, result.score,
                                      accepted, len(fixes(parent, result)),
                                      len(regressions(parent, result))))

    def summarize(self, phase: str, parent: Scored, chosen: Scored | None,
                  proposals: Sequence[Proposal], note: str = "") -> None:
        after = chosen or parent
        if chosen is not None:
            change = rationale_of(chosen, proposals)
        elif proposals:
            tried = "; ".join(p.rationale or "(no rationale)" for p in proposals)
            change = f"none accepted of: {tried}"
        else:
            change = "no valid proposal"
        self.memory.add(IterationSummary(
            self.iterations, phase, chosen is not None, shorten(change, 200), targets(parent),
            parent.split, parent.score, after.score, len(fixes(parent, after)),
            len(regressions(parent, after)), note))


def rationale_of(scored: Scored | None, proposals: Sequence[Proposal]) -> str:
    if scored is None:
        return ""
    return next((p.rationale for p in proposals if p.candidate.id == scored.candidate.id), "")
