"""A continuous-learning loop's settings: one served prompt, the task whose evals and model
re-optimize it, when to start a cycle, what to harvest, how to optimize, gate and test online,
and what it may spend per day. Read from YAML (``honed loop tick LOOP.yaml``)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from honed.errors import ConfigError

_SPAN = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$")
_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_NAME = r"^[A-Za-z0-9][A-Za-z0-9_.-]*$"


def span_s(text: str | float | int, field: str) -> float:
    """``90s``, ``30m``, ``2h``, ``7d``, ``2w`` (or a number of seconds) as seconds."""
    if isinstance(text, int | float):
        return float(text)
    found = _SPAN.match(str(text))
    if found is None:
        raise ValueError(f"{field}: {text!r} is not a span such as 30m, 2h, 7d")
    return float(found.group(1)) * _UNIT_S[found.group(2)]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Trigger(_Section):
    on_alarm: bool = Field(True, description="start a cycle when the monitor raises an alarm")
    every: str | None = Field(None, description="also start one on a schedule (7d, 12h)")
    retry_after: str = Field("1d", description="after a cycle that changed nothing, wait this "
                                               "long before an alarm starts another")


class HarvestSettings(_Section):
    days: float = Field(30.0, gt=0, description="read feedback this far back")
    max_rows: int = Field(2000, ge=10, description="keep the most recent N harvested rows")
    min_rows: int = Field(40, ge=10, description="fewer rows than this: no cycle")
    test_share: float = Field(0.3, gt=0, lt=1, description="share frozen as held-out test "
                              "(chosen by a hash of the input: never trained on, ever)")
    val_share: float = Field(0.25, gt=0, lt=1, description="share of the rest used as val")
    min_score: float | None = Field(None, description="a feedback score at or above this "
                                                      "keeps the output as the target")


class OptimizeSettings(_Section):
    optimizer: str = "auto"
    params: dict[str, Any] = Field(default_factory=dict)
    max_calls: int = Field(300, ge=10, description="task-model calls per optimization")
    seed: int = 0


class GateSettings(_Section):
    min_diff: float = Field(0.02, description="best − production on the frozen test must "
                                              "reach this")
    significant: bool = Field(False, description="also require the paired CI to exclude 0")


class ExperimentSettings(_Section):
    split: float = Field(0.2, gt=0, lt=1)
    metric: str = "feedback"
    guardrails: list[str] = Field(default_factory=list)
    max_requests: int | None = Field(4000, ge=1)
    max_days: float | None = Field(7.0, gt=0)
    unit: Literal["user", "request"] = "user"  # one observation per user, or per request
    probation: str | None = Field("3d", description="after a win, the guardrails keep "
                                  "watching the promoted version on all traffic this long; a "
                                  "breach rolls it back (null: never)")


class Budget(_Section):
    max_calls: int = Field(2000, ge=1, description="calls (optimization and its test) per "
                                                   "24 hours")
    max_usd: float | None = Field(None, gt=0, description="USD per 24 hours")


class MonitorSettings(_Section):
    evals: list[str] = Field(default_factory=list)
    sample: float = Field(0.1, gt=0, le=1)
    reference_n: int = Field(5000, ge=20)
    reference_margin: float = Field(0.5, ge=0.0)
    shift: float = Field(0.1, gt=0, lt=1)
    window: int = Field(1000, ge=20)
    psi_alarm: float = Field(0.25, gt=0)


class LoopConfig(_Section):
    """``loop.yaml``."""

    name: str | None = Field(None, pattern=_NAME, description="default: the prompt's name")
    prompt: str = Field(pattern=_NAME, description="the registered prompt being served")
    alias: str = Field("production", description="the alias the server answers with")
    task: Path = Field(description="task file: model, evals, optimizer defaults (relative to "
                                   "this file)")
    interval: str = Field("10m", description="honed loop run: time between ticks")
    trigger: Trigger = Trigger()
    harvest: HarvestSettings = HarvestSettings()
    optimize: OptimizeSettings = OptimizeSettings()
    gate: GateSettings = GateSettings()
    experiment: ExperimentSettings = ExperimentSettings()
    budget_per_day: Budget = Budget()
    monitor: MonitorSettings = MonitorSettings()

    @field_validator("interval")
    @classmethod
    def _interval(cls, value: str) -> str:
        span_s(value, "interval")
        return value

    @property
    def loop_name(self) -> str:
        return self.name or self.prompt

    def monitor_config(self) -> Any:
        from honed.monitor import MonitorConfig

        return MonitorConfig(prompt=self.prompt, task=self.task, days=self.harvest.days,
                             **self.monitor.model_dump())


def load_loop(path: Path) -> LoopConfig:
    """The loop file, validated; the task path resolved beside it. ConfigError naming the
    file and the field on any problem."""
    from pydantic import ValidationError
    from ruamel.yaml import YAML, YAMLError

    if not path.is_file():
        raise ConfigError(f"loop file {path} not found", file=str(path))
    try:
        data = YAML(typ="safe").load(path.read_text(encoding="utf-8"))
    except YAMLError as exc:
        raise ConfigError(f"{path} is not valid YAML: {exc}", file=str(path)) from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path} must hold a mapping (prompt:, task:, ...)", file=str(path))
    try:
        config = LoopConfig.model_validate(data)
        for value, field in ((config.trigger.every, "trigger.every"),
                             (config.trigger.retry_after, "trigger.retry_after"),
                             (config.experiment.probation, "experiment.probation")):
            if value is not None:
                span_s(value, field)
    except (ValidationError, ValueError) as exc:
        raise ConfigError(_first_error(exc), file=str(path)) from None
    task = config.task if config.task.is_absolute() else path.parent / config.task
    return config.model_copy(update={"task": task.resolve()})


def _first_error(exc: Exception) -> str:
    from pydantic import ValidationError

    if isinstance(exc, ValidationError):
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        return f"{where}: {first['msg']}"
    return str(exc)
