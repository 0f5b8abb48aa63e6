"""``select``: the final choice among the best candidates, made on more data than val alone.

Picking the top of many candidates by a small val split favours the one that got lucky on it
(the winner's curse): val goes up, held-out test does not. ``select`` re-scores the top few
candidates by val, and the task's seed prompt, on train examples that none of them shows as a
demo, with the calls left, and keeps the one that scores best on those fresh examples alone: val
chose the finalists, so only examples that played no part in choosing them judge them without
bias. The seed stays in the race, and another candidate wins only if it beats the seed there by
more than one standard error of the paired difference, so a search that only found val noise
gives the seed back.

Train's label mix often differs from val's (and from what the prompt will meet), and a prompt
that leans towards a frequent train label would look better on train than it is. For tasks with
labels, the fresh examples are therefore weighted so that each label counts as much as it does
in val (add-one smoothed), or in val and train together when their mixes are consistent (see
``label_mix``).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from honed.optimizers.base import Scored, SearchContext
from honed.optimizers.mutations import target_of
from honed.types import Candidate, Example

MIN_POOL = 10  # fewer fresh examples than this would not change the choice reliably
Z = 1.0  # standard errors a finalist must beat the seed by on the fresh examples
SAME_MIX_P = 0.05  # below this p-value, val's label mix is taken to differ from train's


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
        fresh = {s.candidate.id: await ctx.evaluate(s.candidate, "train", pool, origin=self.name)
                 for s in entrants}
        base = fresh[seed.id]
        proven = [s for s in entrants if s.candidate.id != seed.id
                  and lower_bound(fresh[s.candidate.id], base, weights) > 0]
        winner = max(proven, key=lambda s: weighted(fresh[s.candidate.id], weights),
                     default=next(s for s in entrants if s.candidate.id == seed.id))
        best = ctx.best
        if best is not None and winner.candidate.id != best.candidate.id:
            ctx.choose(winner, phase=self.name, note=(
                f"on {len(pool)} unused train examples: "
                f"{weighted(fresh[winner.candidate.id], weights):.3f} vs "
                f"{weighted(fresh[best.candidate.id], weights):.3f} for the best on val"
                + ("" if proven else "; no candidate beat the seed clearly")))

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
    """Per-example weights giving each label its (smoothed) share of ``label_mix``; None
    without labels."""
    if not ctx.labels:
        return None
    mix = label_mix(ctx)
    in_pool = Counter(target_of(ctx.task, ex) for ex in pool)
    total = sum(mix.values()) + len(in_pool)
    return {ex.id: (mix[label] + 1) / total / (in_pool[label] / len(pool))
            for ex in pool for label in [target_of(ctx.task, ex)]}


def label_mix(ctx: SearchContext) -> Counter[str | None]:
    """The label counts the prompt is judged by: val's, pooled with train's when a test of
    homogeneity finds the two mixes consistent (p >= ``SAME_MIX_P``). A small val's mix is
    mostly noise then (40 examples of ten labels can hold nine of one), and train's many
    examples steady it; a val that differs clearly from train is taken at its word."""
    in_val = Counter(target_of(ctx.task, ex) for ex in ctx.examples("val"))
    in_train = Counter(target_of(ctx.task, ex) for ex in ctx.examples("train"))
    labels = sorted(set(in_val) | set(in_train), key=str)
    if len(labels) < 2 or not in_val:
        return in_val
    from scipy.stats import chi2_contingency

    table = [[in_train[label] for label in labels], [in_val[label] for label in labels]]
    return in_val + in_train if chi2_contingency(table).pvalue >= SAME_MIX_P else in_val


def weighted(scored: Scored, weights: Mapping[str, float] | None) -> float:
    """The objective on the pool with example weights (the plain objective without them)."""
    if weights is None:
        return scored.objective
    scores = scored.per_example
    total = sum(weights[i] for i in scores)
    mean = sum(weights[i] * s for i, s in scores.items()) / total if total else scored.score
    return mean + (scored.objective - scored.score)


def lower_bound(a: Scored, b: Scored, weights: Mapping[str, float] | None) -> float:
    """The (weighted) mean of ``a - b`` per example, less ``Z`` standard errors."""
    ids = [i for i in a.per_example if i in b.per_example]
    if not ids:
        return float("-inf")
    w = [weights[i] if weights is not None else 1.0 for i in ids]
    d = [a.per_example[i] - b.per_example[i] for i in ids]
    total = sum(w)
    mean = sum(wi * di for wi, di in zip(w, d, strict=True)) / total
    var = sum(wi * (di - mean) ** 2 for wi, di in zip(w, d, strict=True)) / total
    n_eff = total ** 2 / sum(wi * wi for wi in w)
    penalty = (a.objective - a.score) - (b.objective - b.score)
    return mean + penalty - Z * math.sqrt(var / n_eff)
