"""Where a loop stands, read back from its events: the current cycle, whether an experiment of
it is running, when the last cycle started and ended, and what the last 24 hours cost."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

DAY_S = 86_400.0
TRIGGER, HARVEST, OPTIMIZE, GATE, CANDIDATE, EXPERIMENT, DECIDE, BUDGET, ROLLBACK = (
    "trigger", "harvest", "optimize", "gate", "candidate", "experiment", "decide", "budget",
    "rollback")
OK, SKIPPED, FAILED = "ok", "skipped", "failed"


@dataclass(frozen=True)
class LoopState:
    cycle: int  # the latest cycle's number (0: none yet)
    running_experiment: str | None  # the latest cycle's experiment, while it has no decision
    last_start: float | None  # when the latest cycle was triggered
    last_end: float | None  # when the latest cycle ended (a decision, or a step that stopped it)
    last_outcome: str | None  # promote | keep | the step that stopped it
    handled_alarms: frozenset[int]  # alarms that started a cycle already
    spent_calls: int  # in the last 24 hours
    spent_usd: float

    def to_dict(self) -> dict[str, Any]:
        return {"cycle": self.cycle, "running_experiment": self.running_experiment,
                "last_start": self.last_start, "last_end": self.last_end,
                "last_outcome": self.last_outcome, "spent_calls_24h": self.spent_calls,
                "spent_usd_24h": self.spent_usd}


def _cycle_end(events: Sequence[Mapping[str, Any]]) -> tuple[float | None, str | None]:
    """When and how a cycle (its events oldest first) ended; (None, None) while it goes on."""
    last = events[-1]
    if last["step"] == DECIDE:
        return float(last["created"]), str(last["detail"].get("kind"))
    if last["step"] == ROLLBACK:  # a promotion that broke a guardrail on probation
        return float(last["created"]), ROLLBACK
    if last["step"] == EXPERIMENT and last["status"] == OK:
        return None, None
    if last["status"] in (SKIPPED, FAILED):
        return float(last["created"]), str(last["step"])
    return None, None


def state(events: Sequence[Mapping[str, Any]], now: float) -> LoopState:
    """The state from a loop's events (any order)."""
    ordered = sorted(events, key=lambda e: (float(e["created"]), int(e["id"])))
    recent = [e for e in ordered if float(e["created"]) >= now - DAY_S]
    spent = (sum(int(e["calls"]) for e in recent), sum(float(e["cost_usd"]) for e in recent))
    handled = frozenset(int(a) for e in ordered if e["step"] == TRIGGER
                        for a in e["detail"].get("alarms", []))
    cycled = [e for e in ordered if int(e["cycle"]) > 0]
    if not cycled:
        return LoopState(0, None, None, None, None, handled, *spent)
    cycle = max(int(e["cycle"]) for e in cycled)
    mine = [e for e in cycled if int(e["cycle"]) == cycle]
    end, outcome = _cycle_end(mine)
    running = None
    if end is None and mine[-1]["step"] == EXPERIMENT:
        running = str(mine[-1]["detail"]["experiment"])
    return LoopState(cycle, running, float(mine[0]["created"]), end, outcome, handled, *spent)
