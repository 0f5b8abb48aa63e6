"""``auto``: a schedule chosen from the budget, the data and whether a reflection model exists.

Offline: fewshot -> bayes -> mutate -> select. On the embedded 135M model demonstrations are
what move the score (instruction wording alone barely does), so demo search comes first and the
joint instruction x demos search second. With a reflection model: reflective -> pareto -> bayes
-> select. Each stage starts from the best candidate so far and gets a share of the rollouts
left; a stage that uses up its share ends, and the next one begins. ``select`` spends what is
left re-scoring the best few and the seed on unused train examples, so the winner is chosen on
more than val alone (see ``honed.optimizers.select``).

A small budget (fewer calls left than ``SMALL_BUDGET`` evaluations of val) cannot pay for every
stage: the joint search would spend its share on minibatch trials and have nothing left to
validate their leader. Offline, such a budget goes to the instruction mutations first (screened
on minibatches: naming the label set or asking for the label alone is cheap to find and can be
worth more than any demo set), then to demo search on the better prompt, then to ``select``.
Without the mutations a small budget left the wording untouched: on the scripted landscape's
development splits at 400 calls (``benchmarks/protocol.py run --phase dev-small``) ``auto``
scored 0.410 against MIPROv2's 0.513, and 0.737 with them; on banking10's development splits
at the same budget, 0.40 against 0.36 (2 seeds).
"""

from __future__ import annotations

from typing import ClassVar

from honed.optimizers.base import Optimizer, SearchContext, StageExhausted
from honed.optimizers.mutate import val_cost
from honed.optimizers.params import OptimizerParams
from honed.optimizers.registry import build_optimizer
from honed.optimizers.select import FinalSelect
from honed.types import Candidate

OFFLINE = (("fewshot", 0.3), ("bayes", 0.55), ("mutate", 0.3), ("select", 1.0))
SMALL = (("mutate", 0.45), ("fewshot", 0.75), ("select", 1.0))
REFLECTIVE = (("reflective", 0.4), ("pareto", 0.5), ("bayes", 0.5), ("select", 1.0))
SMALL_BUDGET = 12  # val evaluations' worth of calls below which the offline schedule is SMALL


def schedule(ctx: SearchContext) -> tuple[tuple[str, float], ...]:
    no_demos = ctx.task.target_template() is None  # nothing to show as a demo's answer
    if len(ctx.splits.train) < 4 or no_demos:  # or too little data for demos to pay
        stages = REFLECTIVE if ctx.reflection is not None else OFFLINE
        return tuple((name, share) for name, share in stages if name != "fewshot")
    if ctx.reflection is not None:
        return REFLECTIVE
    left = ctx.remaining()
    return SMALL if left is not None and left < SMALL_BUDGET * val_cost(ctx) else OFFLINE


def stage_optimizer(name: str) -> Optimizer:
    return FinalSelect() if name == "select" else build_optimizer(name)


class AutoSearch(OptimizerParams):
    """A schedule of the other optimizers chosen from the budget, the data and whether a
    reflection model is configured."""

    name: ClassVar[str] = "auto"

    async def search(self, ctx: SearchContext, seed: Candidate) -> None:
        for stage, share in schedule(ctx):
            ctx.set_stage(share)
            ctx.phase(stage, f"{share:.0%} of the calls left")
            start = ctx.best.candidate if ctx.best is not None else seed
            try:
                await stage_optimizer(stage).search(ctx, start)
            except StageExhausted:
                pass
            finally:
                ctx.set_stage(None)
