"""What a monitor watches and how closely: one prompt, the evals that score its traffic, the
share of traffic scored, and the detectors' settings."""

from __future__ import annotations

import hashlib
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

DAY_S = 86_400.0


class MonitorConfig(BaseModel):
    """Settings of a prompt's monitor (YAML ``monitor:`` in a loop file, or CLI flags)."""

    model_config = ConfigDict(extra="forbid")

    prompt: str = Field(description="the registered prompt's name (all its versions)")
    task: Path | None = Field(None, description="task file whose evals score sampled traffic")
    evals: list[str] = Field(default_factory=list,
                             description="evals of the task that score traffic (default: all "
                                         "that can score a logged output)")
    sample: float = Field(0.1, gt=0.0, le=1.0,
                          description="share of requests scored (chosen by a hash of the id)")
    reference_n: int = Field(5000, ge=20, description="a version's first N quality "
                             "observations are its reference (fewer: more false alarms, see "
                             "docs/online-statistics.md)")
    reference_margin: float = Field(0.5, ge=0.0, description="the reference is lowered by this "
                                    "many standard errors of its own estimate")
    shift: float = Field(0.1, gt=0.0, lt=1.0, description="the drop in quality worth an alarm")
    threshold: float | None = Field(None, gt=0.0, description="CUSUM threshold (default: the "
                                    "simulated one for the reference: 7.75, 8.25 from 0.9)")
    window: int = Field(1000, ge=20, description="requests compared for a shift in inputs and "
                        "outputs (first N of a version against the latest N; PSI's own noise "
                        "at 200 against 200 nears the alarm level)")
    psi_alarm: float = Field(0.25, gt=0.0, description="PSI at or above which a shift alarms")
    days: float = Field(30.0, gt=0.0, description="how far back the monitor reads the log")
    bucket_s: float = Field(3600.0, gt=0.0, description="width of a time-series bucket")


def sampled(request_id: str, share: float) -> bool:
    """Whether a request is in the scored sample: a hash of its id, so every check (and every
    process) picks the same requests."""
    if share >= 1.0:
        return True
    digest = hashlib.sha256(f"monitor:{request_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < share
