"""Deciding an experiment: pure functions over the experiment and its data.

``analyze`` measures (per-arm counts, the metric's sequential test, sample-ratio mismatch,
guardrails) and ``decide`` turns the measurement into a verdict, in this order:

1. a guardrail breached on the treatment (with enough data) -> ``breached``;
2. the sequential test says the control is better -> ``lost``;
3. it says the treatment is better -> ``won``, unless the sample ratio is off (an SRM alarm
   means the arms are not comparable: the win is held and the experiment goes on);
4. the request or day limit is reached -> ``expired``;
5. otherwise ``continue``.

Acting on a verdict (promoting, recording the decision) is ``honed.lifecycle.experiments``'s
job; nothing here writes anything.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from honed.experiments.assignment import CONTROL, TREATMENT
from honed.experiments.guardrails import GuardrailCheck, check_guardrail
from honed.experiments.metrics import ArmStats, arm_stats, observations
from honed.experiments.model import ALPHA, Experiment

CONTINUE, WON, LOST, BREACHED, EXPIRED = "continue", "won", "lost", "breached", "expired"
OUTCOMES = (CONTINUE, WON, LOST, BREACHED, EXPIRED)


@dataclass(frozen=True)
class Verdict:
    """What the data says to do. ``outcome`` is one of ``OUTCOMES``; once it is not
    ``continue`` it is also the experiment's final status."""

    outcome: str
    reason: str

    @property
    def final(self) -> bool:
        return self.outcome != CONTINUE

    def to_dict(self) -> dict[str, Any]:
        return {"outcome": self.outcome, "reason": self.reason, "final": self.final}


@dataclass(frozen=True)
class Analysis:
    """One check of an experiment: the measurement and its verdict."""

    experiment: str
    checked: float
    arms: Mapping[str, ArmStats]
    metric: str
    sequential: Any  # honed.stats.sequential.SequentialResult
    srm: Any  # honed.stats.srm.SRMResult
    guardrails: tuple[GuardrailCheck, ...]
    verdict: Verdict
    unit: str = "request"  # of observation: user | request

    @property
    def requests(self) -> int:
        return sum(a.requests for a in self.arms.values())

    def evidence(self) -> dict[str, Any]:
        """What a decision records: means, difference, confidence sequence, p-value, n, SRM,
        guardrails."""
        seq = self.sequential
        return {"metric": self.metric, "unit": self.unit, "n_control": seq.n_control,
                "n_treatment": seq.n_treatment, "mean_control": seq.mean_control,
                "mean_treatment": seq.mean_treatment, "diff": seq.diff,
                "ci": list(seq.ci), "p_value": seq.p_value, "alpha": seq.alpha,
                "srm_p_value": self.srm.p_value, "srm_alarm": bool(self.srm.alarm),
                "requests": {arm: stats.requests for arm, stats in self.arms.items()},
                "breached": [c.to_dict() for c in self.guardrails if c.breached],
                "reason": self.verdict.reason}

    def to_dict(self) -> dict[str, Any]:
        return {"experiment": self.experiment, "checked": self.checked, "metric": self.metric,
                "unit": self.unit, "requests": self.requests,
                "arms": {arm: stats.to_dict() for arm, stats in self.arms.items()},
                "sequential": self.sequential.to_dict(), "srm": self.srm.to_dict(),
                "guardrails": [c.to_dict() for c in self.guardrails],
                "verdict": self.verdict.to_dict()}


def check_guardrails(experiment: Experiment,
                     treatment: ArmStats) -> tuple[GuardrailCheck, ...]:
    checks = []
    for guardrail in experiment.guardrails:
        value, n = treatment.guardrail_value(guardrail.metric)
        checks.append(check_guardrail(guardrail, value, n))
    return tuple(checks)


def decide(experiment: Experiment, *, sequential: Any, srm: Any,
           guardrails: Iterable[GuardrailCheck], requests: int, now: float) -> Verdict:
    """The verdict (see the module doc for the order). ``sequential`` needs ``decision``
    (``continue`` | ``treatment_better`` | ``control_better``) and ``srm`` needs ``alarm``."""
    breached = [c for c in guardrails if c.breached]
    if breached:
        what = "; ".join(f"{c.guardrail} but the treatment has {c.value:.4g} "
                         f"(n={c.n})" for c in breached)
        return Verdict(BREACHED, f"guardrail breached: {what}")
    if sequential.decision == "control_better":
        return Verdict(LOST, "the control is better (sequential test)")
    held = ""
    if sequential.decision == "treatment_better":
        if not srm.alarm:
            return Verdict(WON, "the treatment is better (sequential test)")
        held = ("; the treatment looks better but the sample ratio is off (SRM alarm), so "
                "the win is held")
    if experiment.max_requests is not None and requests >= experiment.max_requests:
        return Verdict(EXPIRED, f"reached {requests} of --max-requests "
                                f"{experiment.max_requests} without a decision{held}")
    deadline = experiment.deadline()
    if deadline is not None and now >= deadline:
        return Verdict(EXPIRED, f"ran --max-days {experiment.max_days:g} without a "
                                f"decision{held}")
    return Verdict(CONTINUE, "not enough evidence yet" + held)


def analyze(experiment: Experiment, rows: Iterable[Mapping[str, Any]],
            scores: Mapping[str, Mapping[str, Any]] | None = None, *,
            now: float) -> Analysis:
    """Measure ``experiment`` on its logged requests (and, for an eval metric, their stored
    scores) and decide."""
    from honed.stats.sequential import msprt
    from honed.stats.srm import srm_test

    rows = list(rows)
    arms = arm_stats(rows)
    seen = observations(rows, experiment.metric, scores, unit=experiment.unit)
    sequential = msprt([v for _, arm, v in seen if arm == CONTROL],
                       [v for _, arm, v in seen if arm == TREATMENT], alpha=ALPHA,
                       order=[arm == TREATMENT for _, arm, _ in seen])  # as they arrived
    srm = srm_test([arms[CONTROL].units, arms[TREATMENT].units],
                   [1.0 - experiment.split, experiment.split])
    checks = check_guardrails(experiment, arms[TREATMENT])
    verdict = decide(experiment, sequential=sequential, srm=srm, guardrails=checks,
                     requests=sum(a.requests for a in arms.values()), now=now)
    return Analysis(experiment.name, now, arms, str(experiment.metric), sequential, srm,
                    checks, verdict, experiment.unit)
