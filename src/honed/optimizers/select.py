"""``select``: the final choice among the best candidates, made on more data than val alone.

Picking the top of many candidates by a small val split favours the one that got lucky on it
(the winner's curse): val goes up, held-out test does not. ``select`` re-scores the top few
candidates by val, and the task's seed prompt, on train examples that none of them shows as a
demo, with the calls left, and keeps the one that scores best on those fresh examples alone: val
chose the finalists, so only examples that played no part in choosing them judge them without
bias. The seed stays in the race and wins ties, so a search that only found val noise gives the
seed back.

Train's label mix often differs from val's (and from what the prompt will meet), and a prompt
that leans towards a frequent train label would look better on train than it is. For tasks with
labels, the fresh examples are therefore weighted so that each label counts as much as it does
in val (add-one smoothed).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from honed.optimizers.base import Scored, SearchContext
from honed.optimizers.mutations import target_of, task_labels
from honed.types import Candidate, Example

MIN_POOL = 10  # fewer fresh examples than this would not change the choice reliably


@dataclass
class FinalSelect:
    name: str = "select"
    finalists: int = 2

    async def search(self, ctx: SearchContext, start: Candidate) -> None:
        seed = ctx.task.seed_candidate()  # ``start`` is the best so far, not the seed
        entrants = self.entrants(ctx, seed)
        pool = self.pool(ctx, entrants)
        if len(entrants) < 2 or not pool:
            return
        weights = label_weights(ctx, pool)
        fresh = {}
        for scored in entrants:
            on_pool = await ctx.evaluate(scored.candidate, "train", pool, origin=self.name)
            fresh[scored.candidate.id] = weighted(on_pool, weights)
        seed_first = sorted(entrants, key=lambda s: s.candidate.id != seed.id)
        winner = max(seed_first, key=lambda s: fresh[s.candidate.id])  # first wins ties
        best = ctx.best
        if best is not None and winner.candidate.id != best.candidate.id:
            ctx.choose(winner, phase=self.name, note=(
                f"best on {len(pool)} unused train examples: {fresh[winner.candidate.id]:.3f} "
                f"vs {fresh[best.candidate.id]:.3f} for the best on val"))

    def entrants(self, ctx: SearchContext, seed: Candidate) -> list[Scored]:
        """The top ``finalists`` distinct candidates by val objective, and the seed."""
        by_id: dict[str, Scored] = {}
        for scored in sorted(ctx.history, key=lambda s: -s.objective):
            by_id.setdefault(scored.candidate.id, scored)
        top = list(by_id.values())[:self.finalists]
        seed_scored = by_id.get(seed.id)
        if seed_scored is not None and seed_scored not in top:
            top.append(seed_scored)
        return top

    def pool(self, ctx: SearchContext, entrants: list[Scored]) -> tuple[Example, ...]:
        """Train examples no entrant uses as a demo, as many as the calls left pay for."""
        shown = {d for s in entrants for d in s.candidate.demos}
        unused = [ex for ex in ctx.examples("train") if ex.id not in shown]
        left = ctx.remaining()
        per_example = len(entrants) * ctx.calls_per_example()
        size = len(unused) if left is None else min(len(unused), left // per_example)
        if size < MIN_POOL:
            return ()
        chosen = sorted(ctx.rng.sample(range(len(unused)), size))
        return tuple(unused[i] for i in chosen)


def label_weights(ctx: SearchContext, pool: Sequence[Example]) -> dict[str, float] | None:
    """Per-example weights giving each label its (smoothed) val share; None without labels."""
    labels = task_labels(ctx.task, ctx.examples("train"))
    if not labels:
        return None
    in_val = Counter(target_of(ctx.task, ex) for ex in ctx.examples("val"))
    in_pool = Counter(target_of(ctx.task, ex) for ex in pool)
    total_val = sum(in_val.values()) + len(in_pool)
    return {ex.id: (in_val[label] + 1) / total_val / (in_pool[label] / len(pool))
            for ex in pool for label in [target_of(ctx.task, ex)]}


def weighted(scored: Scored, weights: Mapping[str, float] | None) -> float:
    """The objective on the pool with example weights (the plain objective without them)."""
    if weights is None:
        return scored.objective
    scores = scored.per_example
    total = sum(weights[i] for i in scores)
    mean = sum(weights[i] * s for i, s in scores.items()) / total if total else scored.score
    return mean + (scored.objective - scored.score)
