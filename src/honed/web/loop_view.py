"""What the dashboard shows of a continuous-learning loop, from its events: where it stands
(``honed.loop.history.state``) and its cycles, newest first, each a row of steps
(trigger → harvest → optimize → gate → candidate → experiment → decide) with their status and
key figure."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from honed.web.evidence import fmt, pretty

SHOWN = ("trigger", "harvest", "optimize", "gate", "candidate", "experiment", "decide")
Event = Mapping[str, Any]


@dataclass(frozen=True)
class StepView:
    step: str
    status: str  # ok | skipped | failed | running | not-reached | waiting
    figure: str  # the key figure, plain text
    link: str = ""  # a page of the dashboard this step names (its experiment, its run)
    event: Event | None = None

    @property
    def detail(self) -> str:
        return "" if self.event is None else pretty(self.event.get("detail"))


@dataclass(frozen=True)
class CycleView:
    cycle: int
    started: float
    ended: float | None
    outcome: str  # promote | keep | stop | the step that stopped it | running
    calls: int
    cost_usd: float
    steps: list[StepView] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)


def _figure(step: str, status: str, d: Mapping[str, Any], spent: str = "") -> str:
    """The one number (or name) a person looks for in each step (``spent``: its calls and
    cost)."""
    if status == "failed":
        return str(d.get("error") or "failed") + (f" ({spent})" if spent else "")
    if step == "trigger":
        alarms = d.get("alarms") or []
        return f"{d.get('reason', '?')}" + (f" ({len(alarms)} alarm"
                                             f"{'s' if len(alarms) != 1 else ''})"
                                             if alarms else "")
    if step == "budget":
        return (f"{fmt(d.get('calls_left_24h'))} calls left in 24 h, "
                f"${float(d.get('spent_usd_24h') or 0):.2f} spent")
    if step == "harvest":
        rows = f"{fmt(d.get('rows'))} rows"
        if status == "skipped":
            return f"{rows}, {fmt(d.get('min_rows'))} needed"
        return f"{rows} (train {fmt(d.get('train'))} · val {fmt(d.get('val'))} · test " \
               f"{fmt(d.get('test'))})"
    if step == "optimize":
        return f"val {_score(d.get('seed_val'))} → {_score(d.get('best_val'))}, {spent}"
    if step == "gate":
        text = (f"test {_score(d.get('production_test'))} → {_score(d.get('best_test'))}, "
                f"diff {_signed(d.get('diff'))} {fmt(d.get('ci95'))} n={fmt(d.get('n'))}")
        reasons = d.get("reasons") or []
        return text + (f": {reasons[0]}" if status == "skipped" and reasons else "")
    if step == "candidate":
        return f"version {fmt(d.get('version'))}"
    if step == "experiment":
        return str(d.get("experiment") or "")
    if step == "decide":
        kind = str(d.get("kind") or "?")
        moved = d.get("from_version") != d.get("to_version")
        return f"{kind} v{fmt(d.get('from_version'))}" + (
            f" → v{fmt(d.get('to_version'))}" if moved else "")
    return fmt(dict(d))


def _score(value: Any) -> str:
    return "-" if value is None else f"{float(value):.3f}"


def _signed(value: Any) -> str:
    return "-" if value is None else f"{float(value):+.3f}"


def _link(step: str, d: Mapping[str, Any]) -> str:
    from urllib.parse import quote

    if step in ("experiment", "decide") and d.get("experiment"):
        return f"/experiments/{quote(str(d['experiment']), safe='')}"
    if step == "optimize" and d.get("run_id"):
        return f"/runs/{quote(str(d['run_id']), safe='')}"
    return ""


def _steps(events: Sequence[Event], latest: bool) -> list[StepView]:
    """One view per shown step (a budget stop sits in the harvest column)."""
    by_step = {str(e["step"]): e for e in events}
    stopped = events[-1]["status"] in ("skipped", "failed")
    out = []
    for step in SHOWN:
        event = by_step.get(step)
        if event is None and step == "harvest" and "budget" in by_step:
            step, event = "budget", by_step["budget"]  # the budget stopped it before harvest
        if event is None:
            waiting = step == "decide" and not stopped and latest
            out.append(StepView(step, "waiting" if waiting else "not-reached", ""))
            continue
        status = str(event["status"])
        if step == "experiment" and status == "ok" and "decide" not in by_step:
            status = "running" if latest else status
        detail = event.get("detail") or {}
        spent = (f"{int(event['calls']):,} calls, ${float(event['cost_usd']):.4f}"
                 if event.get("calls") else "")
        figure = _figure(step, str(event["status"]), detail, spent)
        if step == "decide" and "rollback" in by_step:  # probation undid the promotion
            figure += _rolled_back(by_step["rollback"])
        out.append(StepView(step, status, figure, _link(step, detail), event))
    return out


def _rolled_back(event: Event) -> str:
    d = event.get("detail") or {}
    if event["status"] != "ok":
        return f"; rollback refused: {d.get('error', '?')}"
    return f"; rolled back to v{fmt(d.get('to_version'))} on probation: {d.get('reason', '')}"


def cycles(events: Sequence[Event], *, limit: int | None = None) -> list[CycleView]:
    """The loop's cycles, newest first (the newest ``limit``)."""
    from honed.loop.history import state

    grouped: dict[int, list[Event]] = defaultdict(list)
    for event in sorted(events, key=lambda e: (float(e["created"]), int(e["id"]))):
        grouped[int(event["cycle"])].append(event)
    numbers = sorted((c for c in grouped if c > 0), reverse=True)
    newest = numbers[0] if numbers else None
    out = []
    for number in numbers[:limit]:
        mine = grouped[number]
        ended = state(mine, now=0.0)  # this cycle is the latest of its own events
        out.append(CycleView(number, float(mine[0]["created"]), ended.last_end,
                             ended.last_outcome or "running",
                             sum(int(e["calls"]) for e in mine),
                             sum(float(e["cost_usd"]) for e in mine),
                             _steps(mine, number == newest), mine))
    return out
