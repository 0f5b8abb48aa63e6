"""BayesSearch: MIPRO-style joint search over instructions x demo sets with Optuna's TPE.

Instructions are the current prompt, the offline operators' variants (``mutations``) and, when a
reflection model is configured, a few rewrites from it; demo sets come from ``fewshot``'s
strategies. Each trial scores one (instruction, demo set) pair on a val minibatch; every
``full_eval_every`` trials the configuration with the best estimate (mean minibatch objective, or
its full val objective once known) is evaluated on all of val and recorded. Optuna's sampler is
seeded with the run seed and minibatches come from ``ctx.rng``, so a seed gives one result.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any, ClassVar

from pydantic import Field

from honed.optimizers.base import Scored, SearchContext
from honed.optimizers.fewshot import DemoSet, bootstrap, propose_demo_sets
from honed.optimizers.mutate import starting_point, val_cost
from honed.optimizers.mutations import (
    describe_op,
    instruction_pool,
    keeps_placeholders,
    literal,
    task_facts,
)
from honed.optimizers.params import OptimizerParams
from honed.task.template import variables
from honed.types import Candidate, Example, Message

DEFAULT_TRIALS = 30
MAX_TRIALS = 200
MINIBATCH_SPLIT = "val-minibatch"  # how trial scores are recorded: never a candidate for best
REWRITE_SYSTEM = (
    "You improve prompts for a small language model. Reply with the improved system prompt "
    "only: no preamble, no quotes, no code fences.")
_FENCE = re.compile(r"^```[a-zA-Z]*\n?|\n?```$")

Config = tuple[int, int]


@dataclass
class _Trials:
    """Per-run bookkeeping: trial objectives and full val scores per configuration."""

    instructions: list[Candidate]
    demo_sets: list[DemoSet]
    objectives: dict[Config, list[float]] = field(default_factory=dict)
    validated: dict[str, Scored] = field(default_factory=dict)
    cache: dict[tuple[str, tuple[str, ...]], Scored] = field(default_factory=dict)

    def candidate(self, config: Config) -> Candidate:
        instruction, demo = self.instructions[config[0]], self.demo_sets[config[1]]
        op = f"{describe_op(instruction) or 'instruction'} | {demo.describe()}"
        return Candidate(dict(instruction.components), demo.ids, meta={"op": op})

    def estimate(self, config: Config) -> float:
        full = self.validated.get(self.candidate(config).id)
        if full is not None:
            return full.objective
        values = self.objectives[config]
        return sum(values) / len(values)

    def leader(self) -> Config | None:
        """The configuration with the best estimate (ties: more trials, then first tried)."""
        if not self.objectives:
            return None
        order = list(self.objectives)
        return max(order, key=lambda c: (self.estimate(c), len(self.objectives[c]),
                                         -order.index(c)))


class BayesSearch(OptimizerParams):
    """Joint instruction x demo-set search with a seeded TPE sampler."""

    name: ClassVar[str] = "bayes"
    n_trials: int | None = Field(None, ge=1, description=f"trials; default: as many as the "
                                 f"budget allows ({DEFAULT_TRIALS} without a call limit)")
    minibatch_size: int | None = Field(None, ge=1, description="val examples per trial; "
                                       "default: the run's --minibatch")
    full_eval_every: int = Field(5, ge=1, description="trials between full val evaluations "
                                 "of the leading configuration")
    max_demos: int = Field(4, ge=1, description="demos in a set at most")
    num_demo_sets: int = Field(8, ge=1, description="demo sets to search over")
    num_instructions: int = Field(24, ge=1, description="instructions to search over")
    num_rewrites: int = Field(3, ge=0, description="instructions a reflection model rewrites, "
                              "when one is configured")

    async def search(self, ctx: SearchContext, seed: Candidate) -> None:
        start = await starting_point(ctx, seed)
        ctx.phase("bayes", "building instruction and demo-set candidates")
        trials = _Trials(await self._instructions(ctx, start), await self._demo_sets(ctx, start))
        trials.validated[start.candidate.id] = start
        study = _study(ctx.seed)
        study.enqueue_trial({"instruction": 0, "demos": 0})  # the current best, as a baseline
        size = min(self.minibatch_size or ctx.minibatch_size, len(ctx.examples("val")))
        n_trials = self._n_trials(ctx)
        ctx.phase("bayes", f"up to {n_trials} trials over {len(trials.instructions)} "
                           f"instructions x {len(trials.demo_sets)} demo sets")
        done = 0
        for number in range(1, n_trials + 1):
            if not ctx.can_afford(size * ctx.calls_per_example() + val_cost(ctx)):
                break
            ctx.iteration = number
            await self._trial(ctx, study, trials, size)
            done = number
            if number % self.full_eval_every == 0:
                await self._full_eval(ctx, trials)
        if done % self.full_eval_every:
            await self._full_eval(ctx, trials)

    def _n_trials(self, ctx: SearchContext) -> int:
        """The set number; else as many as the budget allows (the loop stops when it can't
        afford a trial plus a full evaluation), or ``DEFAULT_TRIALS`` without a call limit."""
        if self.n_trials is not None:
            return self.n_trials
        return DEFAULT_TRIALS if ctx.remaining() is None else MAX_TRIALS

    async def _trial(self, ctx: SearchContext, study: Any, trials: _Trials, size: int) -> None:
        trial = study.ask()
        config = (trial.suggest_categorical("instruction", list(range(len(trials.instructions)))),
                  trial.suggest_categorical("demos", list(range(len(trials.demo_sets)))))
        candidate = trials.candidate(config)
        batch = ctx.minibatch("val", size)
        scored = await _evaluate(ctx, trials, candidate, batch)
        value = scored.objective if math.isfinite(scored.objective) else -1.0
        study.tell(trial, value)
        trials.objectives.setdefault(config, []).append(value)
        ctx.record(replace(scored, split=MINIBATCH_SPLIT), accepted=False, phase="trial",
                   note=f"{describe_op(candidate)}: {scored.score:.3f} on {scored.n} val")

    async def _full_eval(self, ctx: SearchContext, trials: _Trials) -> None:
        config = trials.leader()
        if config is None:
            return
        candidate = trials.candidate(config)
        if candidate.id in trials.validated or not ctx.can_afford(val_cost(ctx)):
            return
        mean, count = trials.estimate(config), len(trials.objectives[config])
        scored = await _evaluate(ctx, trials, candidate, ctx.examples("val"))
        trials.validated[candidate.id] = scored
        best = ctx.best.objective if ctx.best is not None else -math.inf
        ctx.record(scored, accepted=scored.objective > best, phase="validate",
                   note=f"{describe_op(candidate)} (mean minibatch {mean:.3f} over "
                        f"{count} trials)")

    async def _instructions(self, ctx: SearchContext, start: Scored) -> list[Candidate]:
        facts = task_facts(ctx.task, ctx.examples("train"))
        pool = instruction_pool(start.candidate, facts, self.num_instructions)
        seen = {c.id for c in pool}
        for rewrite in await self._rewrites(ctx, start):
            if rewrite.id not in seen:
                seen.add(rewrite.id)
                pool.append(rewrite)
        return pool

    async def _demo_sets(self, ctx: SearchContext, start: Scored) -> list[DemoSet]:
        base = start.candidate
        sets = [DemoSet(base.demos, "current")] + ([DemoSet((), "no")] if base.demos else [])
        if ctx.task.target_template() is None:  # demos need an answer to show: none to propose
            return sets
        train = [ex for ex in ctx.examples("train") if ex.id not in base.demos]
        passed: list[Example] = []
        batch = tuple(ex for ex in ctx.minibatch("train", self.minibatch_size)
                      if ex.id not in base.demos)
        cost = len(batch) * ctx.calls_per_example()
        if batch and ctx.can_afford(cost + 2 * val_cost(ctx)):
            passed = (await bootstrap(ctx, base, batch))[1]
        return sets + propose_demo_sets(ctx.task, train, ctx.rng, max_demos=self.max_demos,
                                        count=self.num_demo_sets, bootstrapped=passed,
                                        exclude=[s.ids for s in sets])

    async def _rewrites(self, ctx: SearchContext, start: Scored) -> list[Candidate]:
        """A few instruction rewrites from the reflection model, when one is configured."""
        if ctx.reflection is None:
            return []
        base, rewrites = start.candidate, []
        messages = (Message("system", REWRITE_SYSTEM), Message("user", _brief(ctx, start)))
        for index in range(self.num_rewrites):
            if not ctx.can_afford(1 + val_cost(ctx)):
                break
            text = _clean(await ctx.reflect(messages), variables(base.system))
            child = Candidate({**base.components, "system": text}, (),
                              meta={"op": f"reflection rewrite {index + 1}"})
            if text and keeps_placeholders(base, child):
                rewrites.append(child)
        return rewrites


def _study(seed: int) -> Any:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    sampler = optuna.samplers.TPESampler(seed=seed)
    return optuna.create_study(direction="maximize", sampler=sampler)


async def _evaluate(ctx: SearchContext, trials: _Trials, candidate: Candidate,
                    examples: Sequence[Example]) -> Scored:
    """``ctx.evaluate`` once per (candidate, examples): a repeat is answered from this run's
    trials (a replayed evaluation would be charged to the budget again)."""
    key = (candidate.id, tuple(ex.id for ex in examples))
    if key not in trials.cache:
        trials.cache[key] = await ctx.evaluate(candidate, "val", examples,
                                               origin=describe_op(candidate) or "bayes")
    return trials.cache[key]


def _brief(ctx: SearchContext, start: Scored) -> str:
    task, base = ctx.task, start.candidate
    labels = task.output.choices if task.output is not None and task.output.choices else None
    failures = [f"- output {r.output!r} was wrong ({_feedback(r.evals)})"
                for r in start.failures()[:3]]
    parts = [f"Task: {task.description or task.name}",
             f"Allowed answers: {', '.join(labels)}" if labels else "",
             f"Current system prompt:\n{base.system or '(none)'}",
             f"User message template:\n{base.user}",
             f"Val score: {start.score:.3f}",
             "Some failures:\n" + "\n".join(failures) if failures else "",
             "Write a better system prompt for this task."]
    return "\n\n".join(p for p in parts if p)


def _feedback(evals: Any) -> str:
    return "; ".join(f"{name}: {result.feedback}" for name, result in evals.items()) or "wrong"


def _clean(text: str, keep: Sequence[str]) -> str:
    """Strip code fences; escape braces unless the placeholders are exactly ``keep``'s."""
    text = _FENCE.sub("", text.strip()).strip()
    return text if set(variables(text)) == set(keep) else literal(text)
