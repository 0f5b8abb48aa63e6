"""The loop's state read back from its events."""

from __future__ import annotations

from typing import Any

from honed.loop import history as h

NOW = 100_000.0


def event(i: int, step: str, status: str = "ok", cycle: int = 1, created: float | None = None,
          calls: int = 0, **detail: Any) -> dict[str, Any]:
    return {"id": i, "created": NOW - 1000 + i if created is None else created, "step": step,
            "status": status, "cycle": cycle, "calls": calls, "cost_usd": 0.01 * calls,
            "detail": detail}


def test_no_events() -> None:
    state = h.state([], NOW)
    assert state.cycle == 0 and state.running_experiment is None and state.spent_calls == 0


def test_a_cycle_waiting_on_its_experiment() -> None:
    events = [event(1, "trigger", alarms=[7, 8]), event(2, "harvest"),
              event(3, "optimize", calls=150), event(4, "gate"), event(5, "candidate"),
              event(6, "experiment", experiment="support-cycle-1")]
    state = h.state(list(reversed(events)), NOW)  # any order
    assert state.cycle == 1 and state.running_experiment == "support-cycle-1"
    assert state.last_end is None and state.handled_alarms == {7, 8}
    assert state.spent_calls == 150 and abs(state.spent_usd - 1.5) < 1e-9


def test_a_decided_cycle_and_a_stopped_one() -> None:
    decided = [event(1, "trigger"), event(2, "experiment", experiment="e"),
               event(3, "decide", kind="promote")]
    state = h.state(decided, NOW)
    assert state.running_experiment is None and state.last_outcome == "promote"
    stopped = [*decided, event(4, "trigger", cycle=2), event(5, "gate", "skipped", cycle=2)]
    state = h.state(stopped, NOW)
    assert state.cycle == 2 and state.last_outcome == "gate" and state.last_end is not None


def test_only_the_last_24_hours_count_against_the_budget() -> None:
    events = [event(1, "optimize", calls=500, created=NOW - 2 * h.DAY_S),
              event(2, "optimize", calls=120, cycle=2, created=NOW - 60)]
    assert h.state(events, NOW).spent_calls == 120
