"""One monitoring pass over a prompt's recent traffic: score the sampled requests that are not
scored yet (each once), compute every version's quality, input shift and time series, and record
the alarms that fired. ``status`` is the same view without scoring or recording anything."""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from honed.monitor import inputs, quality
from honed.monitor.config import DAY_S, MonitorConfig, sampled
from honed.monitor.series import buckets

Row = Mapping[str, Any]


@dataclass
class VersionStatus:
    version: int
    requests: int
    errors: int
    quality: quality.QualityState
    shift: inputs.ShiftState
    series: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        q = self.quality
        return {"version": self.version, "requests": self.requests, "errors": self.errors,
                "quality": {"n": q.n, "mean": q.mean, "reference": q.reference,
                            "alarmed": q.alarmed, "evidence": q.evidence},
                "shift": {"alarmed": self.shift.alarmed, **self.shift.evidence()},
                "series": self.series}


@dataclass
class MonitorReport:
    prompt: str
    checked_at: float
    versions: list[VersionStatus]
    alarms: list[dict[str, Any]]  # the prompt's open alarms after this pass
    new_alarms: list[dict[str, Any]] = field(default_factory=list)
    scored: int = 0

    @property
    def alarmed(self) -> bool:
        return bool(self.alarms)

    def to_dict(self) -> dict[str, Any]:
        return {"prompt": self.prompt, "checked_at": self.checked_at, "scored": self.scored,
                "versions": [v.to_dict() for v in self.versions], "alarms": self.alarms,
                "new_alarms": self.new_alarms}


def _score(log_store: Any, config: MonitorConfig, task: Any, rows: Sequence[Row]) -> int:
    """Score the sampled rows with the configured evals; returns how many scores are new."""
    from honed.experiments.scoring import score_requests
    from honed.store.experiments import ExperimentStore
    from honed.task.eval_specs import eval_name

    picked = [r for r in rows if sampled(str(r["id"]), config.sample)]
    names = config.evals or [eval_name(spec) for spec in task.evals]
    store, new = ExperimentStore.of(log_store), 0
    for name in names:
        before = len(store.scores(name, [r["id"] for r in picked]))
        new += len(score_requests(store, task, name, picked)) - before
    return new


def _cleared(alarms: Sequence[Mapping[str, Any]]) -> dict[tuple[int, str], float]:
    """(version, kind) -> the latest time a cleared alarm fired at: detection restarts after
    it, so the same episode is not raised again and a new one is."""
    out: dict[tuple[int, str], float] = {}
    for alarm in alarms:
        if alarm.get("cleared_at") is not None and alarm.get("at") is not None:
            key = (int(alarm["version"]), str(alarm["kind"]))
            out[key] = max(out.get(key, 0.0), float(alarm["at"]))
    return out


def _versions(rows: Sequence[Row], scores: quality.Scores, config: MonitorConfig,
              cleared: Mapping[tuple[int, str], float]) -> list[VersionStatus]:
    by_version: dict[int, list[Row]] = defaultdict(list)
    for row in rows:
        by_version[int(row["version"])].append(row)
    out = []
    for version in sorted(by_version):
        group = by_version[version]
        obs = quality.observations(group, scores)
        out.append(VersionStatus(
            version, len(group), sum(1 for r in group if r.get("error") is not None),
            quality.detect(obs, config, cleared.get((version, "quality"))),
            inputs.detect(group, config, cleared.get((version, "inputs"))),
            buckets(group, obs, config.bucket_s)))
    return out


def _alarm_rows(prompt: str, status: VersionStatus) -> list[dict[str, Any]]:
    out = []
    if status.quality.alarmed:
        out.append({"prompt": prompt, "version": status.version, "kind": "quality",
                    "detector": "cusum", "request_id": status.quality.alarm_request,
                    "at": status.quality.alarm_created, "evidence": status.quality.evidence})
    if status.shift.alarmed:
        out.append({"prompt": prompt, "version": status.version, "kind": "inputs",
                    "detector": f"psi:{status.shift.worst}",
                    "request_id": status.shift.alarm_request, "at": status.shift.alarm_created,
                    "evidence": status.shift.evidence()})
    return out


def _view(log_store: Any, config: MonitorConfig, now: float) -> tuple[list[Row], Any]:
    from honed.store.monitor import MonitorStore

    rows = log_store.requests(prompt=config.prompt, since=now - config.days * DAY_S)
    return rows, MonitorStore.of(log_store)


def check(log_store: Any, config: MonitorConfig, *, task: Any = None,
          now: float | None = None) -> MonitorReport:
    """Score, detect and record: one monitoring pass (for ``honed monitor check``, the server's
    periodic check and the loop)."""
    now = time.time() if now is None else now
    rows, store = _view(log_store, config, now)
    scored = _score(log_store, config, task, rows) if task is not None else 0
    versions = _versions(rows, store.scores(r["id"] for r in rows), config,
                         _cleared(store.alarms(config.prompt)))
    new = [alarm for status in versions for row in _alarm_rows(config.prompt, status)
           if (alarm := store.raise_alarm(row)) is not None]
    return MonitorReport(config.prompt, now, versions, store.alarms(config.prompt,
                                                                    open_only=True), new, scored)


def status(log_store: Any, config: MonitorConfig, *, now: float | None = None) -> MonitorReport:
    """The monitor's view from what is stored, changing nothing."""
    now = time.time() if now is None else now
    rows, store = _view(log_store, config, now)
    versions = _versions(rows, store.scores(r["id"] for r in rows), config,
                         _cleared(store.alarms(config.prompt)))
    return MonitorReport(config.prompt, now, versions,
                         store.alarms(config.prompt, open_only=True))
