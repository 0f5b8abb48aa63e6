"""Run one search by itself, as the optimization driver does (for tests and experiments).

The seed prompt is scored on val and recorded, the optimizer searches until it is done or the
budget is spent, and the outcome carries the seed's and the best val scores, the rollouts and
the recorded steps. Test is never touched.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
from typing import Any

from honed.errors import BudgetExhausted
from honed.optimizers.base import Optimizer, Scored
from honed.optimizers.session import SearchOptions, open_search
from honed.providers.base import Model
from honed.task.config import load_splits
from honed.task.task import Task
from honed.tracking.recorder import Trajectory


@dataclass
class SearchOutcome:
    seed: Scored
    best: Scored
    rollouts: int
    steps: list[dict[str, Any]]


def run_search(task: Task, optimizer: Optimizer, model: Model, options: SearchOptions, *,
               reflection: Model | None = None) -> SearchOutcome:
    async def go() -> SearchOutcome:
        trajectory = Trajectory()
        async with open_search(task, load_splits(task), options, model=model,
                               reflection=reflection, callbacks=[trajectory]) as ctx:
            start = task.seed_candidate()
            scored = await ctx.evaluate(start, "val")
            ctx.record(scored, accepted=True, phase="seed")
            with contextlib.suppress(BudgetExhausted):  # as the driver does
                await optimizer.search(ctx, start)
            assert ctx.best is not None
            return SearchOutcome(scored, ctx.best, ctx.rollouts, trajectory.steps)

    return asyncio.run(go())
