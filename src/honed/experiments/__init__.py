"""Online experiments: measure a candidate prompt against production on live traffic.

Sticky assignment (``assignment``), guardrails (``guardrails``), per-arm metrics
(``metrics``), scoring logged requests with a task's eval (``scoring``), and the verdict, a pure
function over an experiment and its data (``decide``). ``measure`` reads an experiment's data
from the production log. Acting on a verdict (promote, keep, stop, roll back) lives in
``honed.lifecycle.experiments``.
"""

from honed.experiments.assignment import ARMS, CONTROL, TREATMENT, assign, bucket, unit_of
from honed.experiments.decide import (
    BREACHED,
    CONTINUE,
    EXPIRED,
    LOST,
    OUTCOMES,
    WON,
    Analysis,
    Verdict,
    analyze,
    decide,
)
from honed.experiments.guardrails import (
    MIN_GUARDRAIL_N,
    Guardrail,
    GuardrailCheck,
    parse_guardrail,
    parse_guardrails,
)
from honed.experiments.measure import collect, create, load, measure, new_experiment
from honed.experiments.metrics import ArmStats, arm_stats, feedback_value, metric_values
from honed.experiments.model import (
    ALPHA,
    RUNNING,
    STATUSES,
    Experiment,
    ExperimentConfig,
    Metric,
    parse_metric,
)

__all__ = [
    "ALPHA", "ARMS", "BREACHED", "CONTINUE", "CONTROL", "EXPIRED", "LOST", "MIN_GUARDRAIL_N",
    "OUTCOMES", "RUNNING", "STATUSES", "TREATMENT", "WON", "Analysis", "ArmStats",
    "Experiment", "ExperimentConfig", "Guardrail", "GuardrailCheck", "Metric", "Verdict",
    "analyze", "arm_stats", "assign", "bucket", "collect", "create", "decide",
    "feedback_value", "load", "measure", "metric_values", "new_experiment", "parse_guardrail",
    "parse_guardrails", "parse_metric", "unit_of",
]
