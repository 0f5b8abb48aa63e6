"""MutateSearch: beam search over the offline operators of ``mutations``.

Each round expands the beam with every operator, screens all children on one shared train
minibatch (a paired comparison with their parent on the same examples), validates on val only the
best few children that did at least as well as their parent, and keeps the best as the new beam.
It stops after ``patience`` rounds without a val improvement, when no new child is left, after
``max_rounds``, or when the budget runs out.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from pydantic import Field

from honed.optimizers.base import Scored, SearchContext
from honed.optimizers.mutations import TaskFacts, describe_op, mutations, task_facts
from honed.optimizers.params import OptimizerParams
from honed.types import Candidate, Example


async def starting_point(ctx: SearchContext, seed: Candidate) -> Scored:
    """``ctx.best`` (the driver records the seed's val score first); else score the seed."""
    if ctx.best is not None:
        return ctx.best
    scored = await ctx.evaluate(seed, "val", origin="seed")
    ctx.record(scored, accepted=True, phase="seed", note="seed")
    return scored


def val_cost(ctx: SearchContext) -> int:
    return len(ctx.examples("val")) * ctx.calls_per_example()


MINIBATCH_HELP = "train examples per screening minibatch; default: the run's --minibatch"


@dataclass(frozen=True)
class _Child:
    candidate: Candidate
    parent: Scored
    screen: Scored | None = None
    delta: float = 0.0


class MutateSearch(OptimizerParams):
    """Greedy/beam search over deterministic prompt mutations (no LLM proposer)."""

    name: ClassVar[str] = "mutate"
    beam_width: int = Field(2, ge=1, description="prompts kept after each round")
    screen_top: int = Field(3, ge=1, description="children per round validated on val")
    minibatch_size: int | None = Field(None, ge=1, description=MINIBATCH_HELP)
    max_rounds: int = Field(8, ge=1, description="rounds of mutation at most")
    patience: int = Field(2, ge=1, description="rounds without a val improvement before "
                          "stopping")

    async def search(self, ctx: SearchContext, seed: Candidate) -> None:
        facts = task_facts(ctx.task, ctx.examples("train"))
        beam = [await starting_point(ctx, seed)]
        seen, stale = {beam[0].candidate.id}, 0
        memo: dict[tuple[str, ...], Scored] = {}
        for round_no in range(1, self.max_rounds + 1):
            ctx.iteration = round_no
            children = self._expand(beam, facts, seen)
            if not children:
                break
            ctx.phase("mutate", f"round {round_no}: {len(children)} children of "
                                f"{len(beam)} parents")
            best_before = ctx.best.objective if ctx.best is not None else float("-inf")
            survivors = await self._screen(ctx, beam, children, memo)
            validated = await self._validate(ctx, survivors)
            beam = sorted(beam + validated, key=lambda s: -s.objective)[:self.beam_width]
            improved = ctx.best is not None and ctx.best.objective > best_before
            stale = 0 if improved else stale + 1
            if stale >= self.patience or not ctx.can_afford(val_cost(ctx)):
                break

    def _expand(self, beam: list[Scored], facts: TaskFacts, seen: set[str]) -> list[_Child]:
        children = []
        for parent in beam:
            for child in mutations(parent.candidate, facts):
                if child.id not in seen:
                    seen.add(child.id)
                    children.append(_Child(child, parent))
        return children

    def _batch(self, ctx: SearchContext, beam: list[Scored]) -> tuple[Example, ...]:
        demos = {d for s in beam for d in s.candidate.demos}
        batch = ctx.minibatch("train", self.minibatch_size)
        return tuple(ex for ex in batch if ex.id not in demos)

    async def _screen(self, ctx: SearchContext, beam: list[Scored], children: list[_Child],
                      memo: dict[tuple[str, ...], Scored]) -> list[_Child]:
        """Score parents and children on the same minibatch; keep the top children that beat
        their parent, or else the top ones that tied with it."""
        batch = self._batch(ctx, beam)
        if not batch:
            return children[:self.screen_top]
        cost = len(batch) * ctx.calls_per_example()
        with_children = [p for p in beam
                         if any(c.parent.candidate.id == p.candidate.id for c in children)]
        if not ctx.can_afford(cost * (len(with_children) + 1) + val_cost(ctx)):
            return []
        parents: dict[str, Scored] = {}
        ids = tuple(ex.id for ex in batch)
        for parent in with_children:
            key = (parent.candidate.id, *ids)
            if key not in memo:  # a repeated evaluation would be charged again
                memo[key] = await ctx.evaluate(parent.candidate, "train", batch, origin="mutate")
                ctx.record(memo[key], accepted=True, phase="screen",
                           note="parent on the minibatch")
            parents[parent.candidate.id] = memo[key]
        kept: list[_Child] = []
        for child in children:
            if not ctx.can_afford(cost + val_cost(ctx)):
                break
            kept.extend(await self._screen_one(ctx, child, batch, parents, memo))
        kept.sort(key=lambda c: (-c.delta, -(c.screen.score if c.screen else 0.0)))
        better = [c for c in kept if c.delta > 0]  # ties only when nothing did better
        return (better or kept)[:self.screen_top]

    async def _screen_one(self, ctx: SearchContext, child: _Child, batch: tuple[Example, ...],
                          parents: dict[str, Scored],
                          memo: dict[tuple[str, ...], Scored]) -> list[_Child]:
        op, parent = describe_op(child.candidate), parents[child.parent.candidate.id]
        scored = await ctx.evaluate(child.candidate, "train", batch, origin=op,
                                    parent=parent.candidate.id)
        memo[(child.candidate.id, *(ex.id for ex in batch))] = scored
        delta = scored.objective - parent.objective
        keep = delta >= 0
        ctx.record(scored, accepted=keep, phase="screen",
                   note=f"{op}: {scored.score:.3f} vs parent {parent.score:.3f} on "
                        f"{scored.n} train examples")
        return [_Child(child.candidate, child.parent, scored, delta)] if keep else []

    async def _validate(self, ctx: SearchContext, survivors: list[_Child]) -> list[Scored]:
        validated = []
        for child in survivors:
            if not ctx.can_afford(val_cost(ctx)):
                break
            op = describe_op(child.candidate)
            scored = await ctx.evaluate(child.candidate, "val", origin=op,
                                        parent=child.parent.candidate.id)
            best = ctx.best.objective if ctx.best is not None else float("-inf")
            ctx.record(scored, accepted=scored.objective > best, phase="validate",
                       note=f"{op} (parent val {child.parent.score:.3f})")
            validated.append(scored)
        return validated
