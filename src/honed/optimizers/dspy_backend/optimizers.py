"""The DSPy optimizers: ``dspy:mipro``, ``dspy:gepa`` and ``dspy:bootstrap-rs``."""

from __future__ import annotations

import math
from typing import Any, ClassVar, Literal

from pydantic import Field

from honed.optimizers.dspy_backend.base import _DspyOptimizer, _Setup
from honed.optimizers.params import OptimizerParams

Auto = Literal["light", "medium", "heavy"]
AUTO_HELP = "DSPy's preset: light, medium or heavy; default: sized to the budget"


class _DspyParams(OptimizerParams):
    """The parameters every DSPy optimizer takes (its behaviour is ``_DspyOptimizer``'s)."""

    needs_demo_target: ClassVar[bool] = True
    num_threads: int | None = Field(None, ge=1, description="DSPy's worker threads; default: "
                                    "the engine's concurrency")


class DspyMipro(_DspyParams, _DspyOptimizer):
    """DSPy MIPROv2: bootstrapped demo sets x proposed instructions, searched with Optuna TPE.

    With a call budget, ``num_candidates`` and ``num_trials`` are sized to fit it (``auto``
    overrides); without one, ``auto="light"``.
    """

    name: ClassVar[str] = "dspy:mipro"
    needs_optuna: ClassVar[bool] = True
    auto: Auto | None = Field(None, description=AUTO_HELP)
    num_candidates: int | None = Field(None, ge=1, description="instruction and demo-set "
                                       "candidates; default: sized to the budget")
    num_trials: int | None = Field(None, ge=1, description="optimization trials; default: "
                                   "sized to the budget")
    max_bootstrapped_demos: int = Field(4, ge=0, description="bootstrapped demos per set")
    max_labeled_demos: int = Field(4, ge=0, description="labeled demos per set")
    minibatch_size: int = Field(35, ge=1, description="val examples per trial")
    data_aware: bool = Field(True, description="show the proposer a summary of the data")

    def problem(self) -> str | None:
        if self.auto and (self.num_candidates or self.num_trials):
            return "give auto or num_candidates/num_trials, not both"
        return None

    def plan(self, budget: int | None, n_train: int, n_val: int, cpe: int) -> tuple[int, int]:
        """(num_candidates, num_trials): the ones given, else the most whose estimated calls
        fit ``budget`` (bootstrapping, proposals and trials; judges multiply evaluations)."""
        k = self.max_bootstrapped_demos or 3
        boot = min(n_train, 3 * k) * cpe
        summary = 2 + min(9, max(0, math.ceil(n_train / 10) - 1)) if self.data_aware else 0
        mb, full_every = min(self.minibatch_size, n_val), 5

        def cost(n: int, trials: int) -> int:
            evals = n_val + trials * mb + ((trials // full_every + 2) * n_val
                                           if n_val > mb else 0)
            return max(0, n - 2) * boot + summary + n + evals * cpe

        sizes = [self.num_candidates] if self.num_candidates else list(range(12, 2, -1))
        for n in sizes:
            trials = self.num_trials or int(max(4 * math.log2(n), 1.5 * n))
            if budget is None or cost(n, trials) <= budget:
                return n, trials
        n = sizes[-1]
        per_trial = (mb + (n_val / full_every if n_val > mb else 0)) * cpe
        spare = (budget or 0) - cost(n, 0)
        return n, self.num_trials or max(1, int(spare / per_trial))

    def compile(self, s: _Setup) -> tuple[Any, str]:
        sized = s.budget is not None or self.num_candidates or self.num_trials
        auto = self.auto or (None if sized else "light")
        n, trials = self.plan(s.budget, len(s.trainset), len(s.valset), s.calls_per_example)
        minibatch = len(s.valset) > self.minibatch_size
        optimizer = s.dspy.MIPROv2(
            s.metric, prompt_model=s.prompt_lm, task_model=s.task_lm,
            max_bootstrapped_demos=self.max_bootstrapped_demos,
            max_labeled_demos=self.max_labeled_demos, auto=auto,
            num_candidates=None if auto else n, num_threads=s.threads, seed=s.seed,
            verbose=False, track_stats=False)
        extra = {} if auto else {"num_trials": trials}
        program = optimizer.compile(
            s.student, trainset=s.trainset, valset=s.valset, seed=s.seed, minibatch=minibatch,
            minibatch_size=min(self.minibatch_size, len(s.valset)),
            program_aware_proposer=False, data_aware_proposer=self.data_aware, **extra)
        plan = f"auto={auto}" if auto else f"num_candidates={n}, num_trials={trials}"
        return program, plan


class DspyGepa(_DspyParams, _DspyOptimizer):
    """DSPy GEPA: reflective instruction evolution on honed's eval feedback, Pareto selection.

    ``max_metric_calls`` comes from the budget (about 6/7 of it: the rest pays for reflection);
    a stop callback ends GEPA before an iteration the remaining budget could not finish.
    """

    name: ClassVar[str] = "dspy:gepa"
    feedback_metric: ClassVar[bool] = True
    auto: Auto | None = Field(None, description=AUTO_HELP)
    max_metric_calls: int | None = Field(None, ge=1, description="metric calls GEPA may make; "
                                         "default: about 6/7 of the budget")
    reflection_minibatch_size: int = Field(3, ge=1, description="train examples each "
                                           "reflection sees")
    use_merge: bool = Field(True, description="merge candidates from two lineages")

    def problem(self) -> str | None:
        if self.auto and self.max_metric_calls:
            return "give auto or max_metric_calls, not both"
        return None

    @property
    def minibatch(self) -> int:
        return self.reflection_minibatch_size

    def compile(self, s: _Setup) -> tuple[Any, str]:
        cpe, n_val = s.calls_per_example, len(s.valset)
        budget: dict[str, Any] = {"auto": self.auto or "light"}
        if self.max_metric_calls is not None or (s.budget is not None and not self.auto):
            share = (s.budget or 0) * 2 * self.minibatch // ((2 * self.minibatch + 1) * cpe)
            budget = {"max_metric_calls": self.max_metric_calls or max(n_val, share)}
        margin = (n_val + 2 * self.minibatch) * cpe + 1  # one iteration, val included
        rt = s.runtime

        def stop(state: Any) -> bool:
            left = rt.allowance()
            return rt.stopped is not None or (left is not None and left < margin)

        optimizer = s.dspy.GEPA(
            metric=s.metric, reflection_lm=s.prompt_lm, reflection_minibatch_size=self.minibatch,
            use_merge=self.use_merge, num_threads=s.threads, seed=s.seed, track_stats=False,
            gepa_kwargs={"stop_callbacks": [stop]}, **budget)
        program = optimizer.compile(s.student, trainset=s.trainset, valset=s.valset)
        return program, ", ".join(f"{k}={v}" for k, v in budget.items())


class DspyBootstrapRS(_DspyParams, _DspyOptimizer):
    """DSPy BootstrapFewShotWithRandomSearch: bootstrapped demo sets, the best on val wins.

    ``num_candidate_programs`` (besides zero-shot, labeled-only and unshuffled) fits the budget:
    each costs a bootstrap on train plus one val evaluation. It takes no seed of its own: its
    programs depend on the trainset's order alone, which the shared setup shuffles with the
    run's seed.
    """

    name: ClassVar[str] = "dspy:bootstrap-rs"
    num_candidate_programs: int | None = Field(None, ge=0, description="candidate programs "
                                               "besides the three baselines; default: sized "
                                               "to the budget (16 at most)")
    max_bootstrapped_demos: int = Field(4, ge=0, description="bootstrapped demos per program")
    max_labeled_demos: int = Field(4, ge=0, description="labeled demos per program")

    def plan(self, budget: int | None, n_train: int, n_val: int, cpe: int) -> int:
        if self.num_candidate_programs is not None:
            return self.num_candidate_programs
        if budget is None:
            return 16
        boot = min(n_train, 3 * max(1, self.max_bootstrapped_demos))
        per = (boot + n_val) * cpe
        return max(0, min(16, (budget - 2 * n_val * cpe) // per - 1))

    def compile(self, s: _Setup) -> tuple[Any, str]:
        count = self.plan(s.budget, len(s.trainset), len(s.valset), s.calls_per_example)
        optimizer = s.dspy.BootstrapFewShotWithRandomSearch(
            s.metric, max_bootstrapped_demos=self.max_bootstrapped_demos,
            max_labeled_demos=self.max_labeled_demos, num_candidate_programs=count,
            num_threads=s.threads)
        program = optimizer.compile(s.student, trainset=s.trainset, valset=s.valset)
        return program, f"num_candidate_programs={count}"
