"""Measuring a stored experiment: read its requests from the production log, score them with
its eval when the metric is one (each request once), and analyze. The only I/O of this
package; deciding stays pure (``honed.experiments.decide``)."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from honed.experiments.assignment import new_salt
from honed.experiments.decide import Analysis, analyze
from honed.experiments.model import RUNNING, Experiment, ExperimentConfig
from honed.store.experiments import ExperimentStore


def new_experiment(config: ExperimentConfig, prompt: str, control_version: int,
                   treatment_version: int, *, now: float | None = None,
                   salt: str | None = None) -> Experiment:
    """A running experiment from a validated config and the versions its references resolved
    to (nothing is stored)."""
    config.validate()
    return Experiment(
        name=config.name, prompt=prompt, control_ref=config.control,
        control_version=control_version, treatment_ref=config.treatment,
        treatment_version=treatment_version, split=config.split, metric=config.metric,
        guardrails=config.guardrails, salt=salt or new_salt(), status=RUNNING,
        created=time.time() if now is None else now, max_requests=config.max_requests,
        max_days=config.max_days, task=config.task, unit=config.unit)


def create(store: ExperimentStore, experiment: Experiment) -> Experiment:
    """Store a new experiment (a name already used is a ConfigError)."""
    return Experiment.from_row(store.create(experiment.to_row()))


def load(store: ExperimentStore, name: str) -> Experiment:
    return Experiment.from_row(store.get(name))


def collect(store: ExperimentStore, experiment: Experiment
            ) -> tuple[list[dict[str, Any]], Mapping[str, Mapping[str, Any]] | None]:
    """The experiment's logged requests and, for an eval metric, their scores (new ones are
    computed and stored first)."""
    rows = store.requests(experiment.name)
    if experiment.metric.kind != "eval":
        return rows, None
    from honed.experiments.scoring import score_requests
    from honed.task.config import load_task

    task = load_task(experiment.task or "")
    return rows, score_requests(store, task, str(experiment.metric.eval), rows)


def measure(store: ExperimentStore, experiment: Experiment, *,
            now: float | None = None) -> Analysis:
    """Collect and analyze ``experiment`` now (nothing is decided on the store)."""
    rows, scores = collect(store, experiment)
    return analyze(experiment, rows, scores, now=time.time() if now is None else now)
