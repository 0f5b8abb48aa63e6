"""An online experiment as data: what is compared (control and treatment versions of one
prompt), on which traffic (the control's ``NAME@ALIAS``, a split), by which metric, under which
guardrails and limits, and where it stands (its status and last check).

Statuses: ``running``; then ``won`` (the treatment was better and was promoted), ``lost`` (the
control was better), ``breached`` (a guardrail failed), ``expired`` (the request or day limit
came first) or ``stopped`` (by hand, or because the control's alias moved). Only a running
experiment routes traffic.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from honed.errors import ConfigError
from honed.experiments.guardrails import Guardrail

RUNNING = "running"
STATUSES = (RUNNING, "won", "lost", "breached", "expired", "stopped")
ALPHA = 0.05  # the sequential test's level: a p-value valid at any time, however often checked
DAY_S = 86400.0
UNITS = ("user", "request")  # what one observation of the metric is (see ``metrics``)
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


@dataclass(frozen=True)
class Metric:
    """``feedback`` (the feedback score of a request) or ``eval:NAME`` (the task's eval NAME on
    the logged output)."""

    kind: str
    eval: str | None = None

    def __str__(self) -> str:
        return "feedback" if self.kind == "feedback" else f"eval:{self.eval}"


def parse_metric(text: str, *, flag: str = "--metric") -> Metric:
    value = text.strip()
    if value == "feedback":
        return Metric("feedback")
    kind, sep, name = value.partition(":")
    if kind == "eval" and sep and name.strip():
        return Metric("eval", name.strip())
    raise ConfigError(f"unknown metric {text!r}", field=flag,
                      fix="use feedback, or eval:NAME with NAME an eval of --task")


@dataclass(frozen=True)
class ExperimentConfig:
    """What ``start`` needs: the references are resolved to versions when it starts."""

    name: str
    control: str  # NAME@ALIAS: its traffic is split
    treatment: str  # NAME@ALIAS or NAME/VERSION of the same prompt
    metric: Metric = field(default_factory=lambda: Metric("feedback"))
    split: float = 0.1
    guardrails: tuple[Guardrail, ...] = ()
    max_requests: int | None = None
    max_days: float | None = None
    task: str | None = None  # the task file whose eval an ``eval:NAME`` metric uses
    unit: str = "user"

    def validate(self) -> None:
        """ConfigErrors naming the flag for values no experiment can have."""
        if not _NAME.match(self.name):
            raise ConfigError(f"invalid experiment name {self.name!r}", field="NAME",
                              fix="use letters, digits, '.', '_' and '-', starting with a "
                                  "letter or digit")
        if not 0.0 < self.split < 1.0:
            raise ConfigError(f"--split {self.split} is not a share between 0 and 1",
                              field="--split", fix="e.g. --split 0.1 sends 10% of units to "
                                                   "the treatment")
        if self.max_requests is not None and self.max_requests < 1:
            raise ConfigError("--max-requests must be at least 1", field="--max-requests")
        if self.max_days is not None and self.max_days <= 0:
            raise ConfigError("--max-days must be positive", field="--max-days")
        if self.unit not in UNITS:
            raise ConfigError(f"unknown unit {self.unit!r}", field="--unit",
                              fix="use user (one observation per user: the mean of their "
                                  "requests) or request")
        if self.metric.kind == "eval" and not self.task:
            raise ConfigError(f"--metric {self.metric} needs the task that defines the eval",
                              field="--task", fix="pass --task TASK.yaml")


@dataclass(frozen=True)
class Experiment:
    """A stored experiment (see ``honed.store.experiments``)."""

    name: str
    prompt: str
    control_ref: str
    control_version: int
    treatment_ref: str
    treatment_version: int
    split: float
    metric: Metric
    guardrails: tuple[Guardrail, ...]
    salt: str
    status: str = RUNNING
    created: float = 0.0
    max_requests: int | None = None
    max_days: float | None = None
    task: str | None = None
    ended: float | None = None
    result: Mapping[str, Any] | None = None
    unit: str = "request"  # experiments stored before units were chosen were per request

    @property
    def alias(self) -> str:
        """The alias whose traffic is split (and which a win moves)."""
        return self.control_ref.partition("@")[2]

    @property
    def running(self) -> bool:
        return self.status == RUNNING

    def deadline(self) -> float | None:
        return None if self.max_days is None else self.created + self.max_days * DAY_S

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> Experiment:
        return cls(
            name=row["name"], prompt=row["prompt"], control_ref=row["control_ref"],
            control_version=int(row["control_version"]), treatment_ref=row["treatment_ref"],
            treatment_version=int(row["treatment_version"]), split=float(row["split"]),
            metric=parse_metric(row["metric"]),
            guardrails=tuple(Guardrail.from_dict(g) for g in row.get("guardrails") or ()),
            salt=row["salt"], status=row["status"], created=float(row["created"]),
            max_requests=row.get("max_requests"), max_days=row.get("max_days"),
            task=row.get("task"), ended=row.get("ended"), result=row.get("result"),
            unit=row.get("unit") or "request")

    def to_row(self) -> dict[str, Any]:
        """The store's row (JSON columns as Python values)."""
        return {"name": self.name, "prompt": self.prompt, "control_ref": self.control_ref,
                "control_version": self.control_version, "treatment_ref": self.treatment_ref,
                "treatment_version": self.treatment_version, "split": self.split,
                "metric": str(self.metric),
                "guardrails": [g.to_dict() for g in self.guardrails],
                "max_requests": self.max_requests, "max_days": self.max_days,
                "task": self.task, "salt": self.salt, "status": self.status,
                "created": self.created, "ended": self.ended,
                "result": None if self.result is None else dict(self.result),
                "unit": self.unit}

    def to_dict(self) -> dict[str, Any]:
        """For JSON output: the row, guardrails also as text."""
        return {**self.to_row(), "guardrail_text": [str(g) for g in self.guardrails]}
