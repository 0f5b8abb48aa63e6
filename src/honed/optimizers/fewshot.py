"""FewShotSearch: choose few-shot demos from train for the current best prompt.

Demo sets come from three strategies: label-stratified (one of each label, interleaved), randomly
drawn, and bootstrapped (train examples the current prompt already answers correctly, DSPy's
BootstrapFewShot idea), in sizes 1..``max_demos`` and several orderings. Each set is screened on a
train minibatch, paired with the current prompt on the same examples (never on its own demos), and
only the best survivors are validated on val. No evaluation starts that the budget cannot finish.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import ClassVar

from pydantic import Field

from honed.optimizers.base import Scored, SearchContext
from honed.optimizers.mutate import MINIBATCH_HELP, starting_point, val_cost
from honed.optimizers.mutations import target_of, task_labels
from honed.optimizers.params import OptimizerParams
from honed.task.task import Task
from honed.types import Candidate, Example


@dataclass(frozen=True)
class DemoSet:
    ids: tuple[str, ...]
    strategy: str

    def describe(self) -> str:
        return f"{self.strategy} demos ({len(self.ids)})"


# demo-set proposals --------------------------------------------------------------------------
def stratified(task: Task, pool: Sequence[Example], k: int, rng: random.Random,
               labels: Sequence[str] = ()) -> tuple[str, ...]:
    """Up to ``k`` examples, round-robin over labels (each label's examples shuffled)."""
    groups: dict[str, list[Example]] = {}
    for ex in pool:
        groups.setdefault(target_of(task, ex) or "", []).append(ex)
    order = [x for x in labels if x in groups] + sorted(g for g in groups if g not in labels)
    queues = [rng.sample(groups[g], len(groups[g])) for g in order]
    chosen: list[str] = []
    while len(chosen) < k and any(queues):
        for queue in queues:
            if queue and len(chosen) < k:
                chosen.append(queue.pop(0).id)
    return tuple(chosen)


def propose_demo_sets(task: Task, train: Sequence[Example], rng: random.Random, *,
                      max_demos: int, count: int, bootstrapped: Sequence[Example] = (),
                      exclude: Sequence[tuple[str, ...]] = ()) -> list[DemoSet]:
    """``count`` distinct demo sets cycling stratified / bootstrapped / random / reordered; the
    first of each strategy is full size, later ones draw a size in 1..max_demos."""
    labels = task_labels(task, train)
    k_max = min(max_demos, len(train))
    makers: list[tuple[str, Callable[[int], tuple[str, ...]]]] = [
        ("stratified", lambda k: stratified(task, train, k, rng, labels)),
        ("bootstrapped", lambda k: stratified(task, bootstrapped, k, rng, labels)),
        ("random", lambda k: tuple(ex.id for ex in rng.sample(list(train), k))),
    ]
    if not bootstrapped:
        makers.pop(1)
    seen, sets = set(exclude), []
    for attempt in range(count * 10):
        if len(sets) >= count or k_max < 1:
            break
        size = k_max if attempt < len(makers) else rng.randint(1, k_max)
        if attempt % (len(makers) + 1) == len(makers) and sets:
            source = sets[rng.randrange(len(sets))]
            demo = DemoSet(tuple(rng.sample(source.ids, len(source.ids))), "reordered")
        else:
            strategy, make = makers[attempt % (len(makers) + 1) % len(makers)]
            demo = DemoSet(make(size), strategy)
        if demo.ids and demo.ids not in seen:
            seen.add(demo.ids)
            sets.append(demo)
    return sets


# shared screening helpers --------------------------------------------------------------------
async def bootstrap(ctx: SearchContext, base: Candidate,
                    batch: Sequence[Example]) -> tuple[Scored, list[Example]]:
    """Score the current prompt on a train minibatch; the examples it got right are demos."""
    scored = await ctx.evaluate(base, "train", batch, origin="bootstrap")
    ctx.record(scored, accepted=True, phase="bootstrap",
               note=f"current best on {scored.n} train examples (bootstrap pool)")
    passed = {r.example_id for r in scored.passes()}
    return scored, [ex for ex in batch if ex.id in passed]


def paired_delta(child: Scored, reference: Scored) -> float:
    """Child minus reference on the child's examples, in objective units (same length/cost
    penalty as each one's own ``objective``)."""
    ref = reference.per_example
    common = [eid for eid in child.per_example if eid in ref]
    if not common or not math.isfinite(child.objective):
        return -math.inf if not math.isfinite(child.objective) else 0.0
    ref_score = sum(ref[e] for e in common) / len(common)
    ref_penalty = reference.score - reference.objective
    if not math.isfinite(ref_penalty):
        return math.inf
    return child.objective - (ref_score - ref_penalty)


def with_demos(base: Candidate, demo: DemoSet) -> Candidate:
    return Candidate(dict(base.components), demo.ids, meta={"op": demo.describe()})


@dataclass(frozen=True)
class _Screened:
    demo: DemoSet
    delta: float


class FewShotSearch(OptimizerParams):
    """Random search over demo sets on top of the current best prompt's text."""

    name: ClassVar[str] = "fewshot"
    needs_demo_target: ClassVar[bool] = True
    max_demos: int = Field(4, ge=1, description="demos in a set at most")
    num_candidates: int = Field(8, ge=1, description="demo sets proposed and screened")
    validate_top: int = Field(3, ge=1, description="screened sets validated on val")
    minibatch_size: int | None = Field(None, ge=1, description=MINIBATCH_HELP)

    async def search(self, ctx: SearchContext, seed: Candidate) -> None:
        start = await starting_point(ctx, seed)
        base, train = start.candidate, ctx.examples("train")
        ctx.iteration += 1
        ctx.phase("fewshot", f"up to {self.num_candidates} demo sets of <= {self.max_demos}")
        batch = tuple(ex for ex in ctx.minibatch("train", self.minibatch_size)
                      if ex.id not in base.demos)
        screen_cost = len(batch) * ctx.calls_per_example()
        if not batch or not ctx.can_afford(2 * screen_cost + val_cost(ctx)):
            # nothing to screen on, or no budget to: validate the first proposals directly
            proposals = self._proposals(ctx, base, train, ())
            await self._validate(ctx, start, proposals[:self.validate_top if not batch else 1])
            return
        reference, passed = await bootstrap(ctx, base, batch)
        screened = await self._screen(ctx, base, self._proposals(ctx, base, train, passed),
                                      batch, reference)
        await self._validate(ctx, start, [s.demo for s in screened][:self.validate_top])

    def _proposals(self, ctx: SearchContext, base: Candidate, train: Sequence[Example],
                   passed: Sequence[Example]) -> list[DemoSet]:
        pool = [ex for ex in train if ex.id not in base.demos]
        sets = propose_demo_sets(ctx.task, pool, ctx.rng, max_demos=self.max_demos,
                                 count=self.num_candidates, bootstrapped=passed,
                                 exclude=[base.demos])
        return sets + ([DemoSet((), "no")] if base.demos else [])

    async def _screen(self, ctx: SearchContext, base: Candidate, demos: list[DemoSet],
                      batch: tuple[Example, ...], reference: Scored) -> list[_Screened]:
        kept: list[_Screened] = []
        for demo in demos:
            subset = [ex for ex in batch if ex.id not in demo.ids]
            if not subset:
                continue
            if not ctx.can_afford(len(subset) * ctx.calls_per_example() + val_cost(ctx)):
                break
            candidate = with_demos(base, demo)
            scored = await ctx.evaluate(candidate, "train", subset, origin=demo.strategy,
                                        parent=base.id)
            delta = paired_delta(scored, reference)
            ctx.record(scored, accepted=delta >= 0, phase="screen",
                       note=f"{demo.describe()}: {delta:+.3f} vs current on "
                            f"{scored.n} train examples")
            if delta >= 0:
                kept.append(_Screened(demo, delta))
        kept.sort(key=lambda s: -s.delta)
        better = [s for s in kept if s.delta > 0]  # ties only when nothing did better
        return better or kept

    async def _validate(self, ctx: SearchContext, start: Scored,
                        chosen: Sequence[DemoSet]) -> None:
        for demo in chosen:
            if not ctx.can_afford(val_cost(ctx)):
                return
            candidate = with_demos(start.candidate, demo)
            scored = await ctx.evaluate(candidate, "val", origin=demo.strategy,
                                        parent=start.candidate.id)
            best = ctx.best.objective if ctx.best is not None else -math.inf
            ctx.record(scored, accepted=scored.objective > best, phase="validate",
                       note=f"{demo.describe()} (was {start.score:.3f})")
