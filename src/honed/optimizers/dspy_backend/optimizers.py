"""The DSPy optimizers: ``dspy:mipro``, ``dspy:gepa`` and ``dspy:bootstrap-rs``."""

from __future__ import annotations

import math
from typing import Any

from honed.errors import ConfigError
from honed.optimizers.dspy_backend.base import _DspyOptimizer, _Setup


def _check_auto(owner: str, auto: str | None) -> None:
    if auto not in (None, "light", "medium", "heavy"):
        raise ConfigError(f"{owner}: unknown auto {auto!r}", field="auto",
                          fix="use light, medium or heavy")


class DspyMipro(_DspyOptimizer):
    """DSPy MIPROv2: bootstrapped demo sets x proposed instructions, searched with Optuna TPE.

    With a call budget, ``num_candidates`` and ``num_trials`` are sized to fit it (``auto``
    overrides); without one, ``auto="light"``.
    """

    name = "dspy:mipro"
    needs_optuna = True

    def __init__(self, *, auto: str | None = None, num_candidates: int | None = None,
                 num_trials: int | None = None, max_bootstrapped_demos: int = 4,
                 max_labeled_demos: int = 4, minibatch_size: int = 35,
                 data_aware: bool = True, num_threads: int | None = None) -> None:
        super().__init__(num_threads=num_threads)
        _check_auto(self.name, auto)
        if auto and (num_candidates or num_trials):
            raise ConfigError("dspy:mipro: give auto or num_candidates/num_trials, not both",
                              field="auto")
        self.auto, self.num_candidates, self.num_trials = auto, num_candidates, num_trials
        self.max_bootstrapped_demos, self.max_labeled_demos = (max_bootstrapped_demos,
                                                               max_labeled_demos)
        self.minibatch_size, self.data_aware = minibatch_size, data_aware

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


class DspyGepa(_DspyOptimizer):
    """DSPy GEPA: reflective instruction evolution on honed's eval feedback, Pareto selection.

    ``max_metric_calls`` comes from the budget (about 6/7 of it: the rest pays for reflection);
    a stop callback ends GEPA before an iteration the remaining budget could not finish.
    """

    name = "dspy:gepa"
    feedback_metric = True

    def __init__(self, *, auto: str | None = None, max_metric_calls: int | None = None,
                 reflection_minibatch_size: int = 3, use_merge: bool = True,
                 num_threads: int | None = None) -> None:
        super().__init__(num_threads=num_threads)
        _check_auto(self.name, auto)
        if auto and max_metric_calls:
            raise ConfigError("dspy:gepa: give auto or max_metric_calls, not both", field="auto")
        self.auto, self.max_metric_calls = auto, max_metric_calls
        self.minibatch, self.use_merge = reflection_minibatch_size, use_merge

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


class DspyBootstrapRS(_DspyOptimizer):
    """DSPy BootstrapFewShotWithRandomSearch: bootstrapped demo sets, the best on val wins.

    ``num_candidate_programs`` (besides zero-shot, labeled-only and unshuffled) fits the budget:
    each costs a bootstrap on train plus one val evaluation. It takes no seed of its own: its
    programs depend on the trainset's order alone, which the shared setup shuffles with the
    run's seed.
    """

    name = "dspy:bootstrap-rs"

    def __init__(self, *, num_candidate_programs: int | None = None,
                 max_bootstrapped_demos: int = 4, max_labeled_demos: int = 4,
                 num_threads: int | None = None) -> None:
        super().__init__(num_threads=num_threads)
        self.num_candidate_programs = num_candidate_programs
        self.max_bootstrapped_demos, self.max_labeled_demos = (max_bootstrapped_demos,
                                                               max_labeled_demos)

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
