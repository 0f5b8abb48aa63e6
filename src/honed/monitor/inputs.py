"""A shift in what a prompt version is asked and answers: the population stability index of
input length and of the outputs' distribution (labels, choices), and the share of new
vocabulary, comparing a version's first ``window`` requests with its latest ``window``."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from honed.monitor.config import MonitorConfig

Row = Mapping[str, Any]


@dataclass
class ShiftState:
    n: int
    measures: dict[str, float] = field(default_factory=dict)
    worst: str | None = None  # the measure that alarmed
    alarm_request: str | None = None
    alarm_created: float | None = None

    @property
    def alarmed(self) -> bool:
        return self.alarm_request is not None

    def evidence(self) -> dict[str, Any]:
        return {"n": self.n, "measures": self.measures, "worst": self.worst}


def input_text(row: Row) -> str:
    """A request's inputs as one text (values joined in key order)."""
    inputs = row.get("inputs") or {}
    return " ".join(str(inputs[k]) for k in sorted(inputs))


def outputs_of(rows: Sequence[Row]) -> list[str]:
    return [" ".join(str(r["output"]).lower().split()) for r in rows
            if r.get("output") is not None and r.get("error") is None]


def measure(reference: Sequence[Row], current: Sequence[Row]) -> dict[str, float]:
    """PSI of input length (characters), PSI of the outputs and the new-vocabulary rate."""
    from honed.stats.drift import oov_rate, psi, psi_categorical

    ref_text = [input_text(r) for r in reference]
    cur_text = [input_text(r) for r in current]
    out: dict[str, float] = {
        "input_length_psi": psi([len(t) for t in ref_text], [len(t) for t in cur_text]),
        "new_vocabulary": oov_rate(ref_text, cur_text)}
    ref_out, cur_out = outputs_of(reference), outputs_of(current)
    if ref_out and cur_out:
        out["output_psi"] = psi_categorical(ref_out, cur_out)
    return out


def detect(rows: Sequence[Row], config: MonitorConfig, after: float | None = None) -> ShiftState:
    """Compare the version's first ``window`` requests with its latest ``window`` (no overlap;
    the latest only from after ``after``, the time of a cleared alarm); alarm when a PSI
    reaches ``psi_alarm``."""
    ordered = sorted(rows, key=lambda r: (float(r["created"]), str(r["id"])))
    reference = ordered[:config.window]
    current = [r for r in ordered[config.window:]
               if after is None or float(r["created"]) > after][-config.window:]
    if len(reference) < config.window or len(current) < config.window:
        return ShiftState(len(ordered))
    measures = measure(reference, current)
    state = ShiftState(len(ordered), measures)
    psis = {k: v for k, v in measures.items() if k.endswith("_psi")}
    worst = max(psis, key=lambda k: psis[k]) if psis else None
    if worst is not None and psis[worst] >= config.psi_alarm:
        state.worst, last = worst, ordered[-1]
        state.alarm_request, state.alarm_created = str(last["id"]), float(last["created"])
    return state
