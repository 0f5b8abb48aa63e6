"""``auto``: a schedule chosen from the budget, the data and whether a reflection model exists.

Offline: fewshot -> bayes -> mutate. On the embedded 135M model demonstrations are what move
the score (instruction wording alone barely does), so demo search comes first and the joint
instruction x demos search second. With a reflection model: reflective -> pareto -> bayes.
Each stage starts from the best candidate so far and gets a share of the rollouts left; a stage
that uses up its share ends, and the next one begins.
"""

from __future__ import annotations

from dataclasses import dataclass

from honed.optimizers.base import SearchContext, StageExhausted
from honed.optimizers.registry import build_optimizer
from honed.types import Candidate

OFFLINE = (("fewshot", 0.3), ("bayes", 0.7), ("mutate", 1.0))
REFLECTIVE = (("reflective", 0.4), ("pareto", 0.5), ("bayes", 1.0))


def schedule(ctx: SearchContext) -> tuple[tuple[str, float], ...]:
    stages = REFLECTIVE if ctx.reflection is not None else OFFLINE
    if len(ctx.splits.train) < 4:  # too little data for demos to be worth their calls
        stages = tuple((name, share) for name, share in stages if name != "fewshot")
    return stages


@dataclass
class AutoSearch:
    name: str = "auto"

    async def search(self, ctx: SearchContext, seed: Candidate) -> None:
        for stage, share in schedule(ctx):
            ctx.set_stage(share)
            ctx.phase(stage, f"{share:.0%} of the calls left")
            start = ctx.best.candidate if ctx.best is not None else seed
            try:
                await build_optimizer(stage).search(ctx, start)
            except StageExhausted:
                pass
            finally:
                ctx.set_stage(None)
