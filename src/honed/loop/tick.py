"""One step of the continuous-learning loop, for cron or ``honed loop run``:

1. monitor: score a sample of recent traffic, run the drift detectors, record alarms;
2. if this loop's experiment is running: check it, and on a decision (promote or keep) end the
   cycle;
3. else, on a new alarm or the schedule, start a cycle within the day's budget: harvest
   feedback (a frozen test part that is never trained on), re-optimize the served prompt,
   gate the best against production on the frozen test, register it as ``candidate`` and
   start an online experiment, whose decision a later tick applies;
4. after a promotion, while its probation lasts, check the experiment's guardrails on the
   promoted version's traffic and roll back on a breach (``honed.loop.probation``).

Every step is an event in the store (``honed loop status``); a step that stops a cycle says why.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from honed.errors import HonedError
from honed.loop import history as h
from honed.loop.config import LoopConfig, span_s
from honed.loop.harvest import harvest
from honed.loop.probation import on_probation, watch
from honed.loop.steps import cycle_task, gate, optimize, start_experiment, target_field


@dataclass
class TickContext:
    """What a tick works with (opened by the caller, so a long-running loop reuses them)."""

    config: LoopConfig
    log_store: Any
    registry: Any
    home: Path
    model: Any = None  # a task model to use instead of the task's own (tests, benchmarks)


@dataclass
class TickReport:
    loop: str
    cycle: int
    action: str  # idle | waiting | started | decided | stopped | rolled_back
    events: list[dict[str, Any]] = field(default_factory=list)
    monitor: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"loop": self.loop, "cycle": self.cycle, "action": self.action,
                "events": self.events, "monitor": self.monitor}


class _Recorder:
    def __init__(self, ctx: TickContext, cycle: int, now: float) -> None:
        from honed.store.monitor import MonitorStore

        self.store, self.ctx, self.cycle, self.now = MonitorStore.of(ctx.log_store), ctx, cycle, now
        self.events: list[dict[str, Any]] = []

    def __call__(self, step: str, status: str, detail: dict[str, Any], *, calls: int = 0,
                 cost_usd: float = 0.0) -> dict[str, Any]:
        event = self.store.add_event({"loop": self.ctx.config.loop_name, "step": step,
                                      "status": status, "cycle": self.cycle, "calls": calls,
                                      "cost_usd": cost_usd, "detail": detail})
        self.events.append(event)
        return event


def tick(ctx: TickContext, *, now: float | None = None) -> TickReport:
    from honed.monitor import check as monitor_check
    from honed.store.monitor import MonitorStore
    from honed.task.config import load_task

    now = time.time() if now is None else now
    config, store = ctx.config, MonitorStore.of(ctx.log_store)
    task = load_task(config.task)
    report = monitor_check(ctx.log_store, config.monitor_config(), task=task, now=now)
    events = store.events(config.loop_name)
    current = h.state(events, now)
    if current.running_experiment is not None:
        out = _follow(ctx, current, now)
    elif (rolled := _probation(ctx, events, current, now)) is not None:
        out = rolled
    else:  # only the served version's alarms matter; a retired version's are history
        served = ctx.registry.aliases(config.prompt).get(config.alias)
        alarms = [a for a in report.alarms if int(a["version"]) == served]
        out = _maybe_start(ctx, task, current, alarms, now)
    out.monitor = {"new_alarms": report.new_alarms, "open_alarms": len(report.alarms),
                   "scored": report.scored}
    return out


def _follow(ctx: TickContext, current: h.LoopState, now: float) -> TickReport:
    """Check the cycle's experiment; on a decision, record it and end the cycle."""
    from honed.lifecycle.experiments import check_experiment
    from honed.store.monitor import MonitorStore

    name, config = str(current.running_experiment), ctx.config
    checked = check_experiment(ctx.log_store, ctx.registry, name, now=now)
    if checked.experiment.running:
        return TickReport(config.loop_name, current.cycle, "waiting")
    record = _Recorder(ctx, current.cycle, now)
    decision = dict(checked.decision or {})
    kind = str(decision.get("kind") or checked.experiment.status)
    detail = {"experiment": name, "kind": kind, "status": checked.experiment.status,
              "from_version": decision.get("from_version"),
              "to_version": decision.get("to_version"),
              "evidence": decision.get("evidence") or {}}
    record(h.DECIDE, h.OK, detail)
    if kind == "promote":  # the alarms were about the version that left production
        MonitorStore.of(ctx.log_store).clear_alarms(config.prompt,
                                                    by=f"loop {config.loop_name} "
                                                       f"cycle {current.cycle}")
    return TickReport(config.loop_name, current.cycle, "decided", record.events)


def _probation(ctx: TickContext, events: list[dict[str, Any]], current: h.LoopState,
               now: float) -> TickReport | None:
    """The promoted version's guardrails while on probation: a report when it was rolled
    back (None: nothing on probation, or nothing broken)."""
    promotion = on_probation(ctx.config, events, current, now)
    if promotion is None:
        return None
    record = _Recorder(ctx, promotion.cycle, now)
    if not watch(ctx.log_store, ctx.registry, ctx.config, promotion, record, now):
        return None
    return TickReport(ctx.config.loop_name, promotion.cycle, "rolled_back", record.events)


def _due(config: LoopConfig, current: h.LoopState, alarms: list[dict[str, Any]],
         now: float) -> tuple[str | None, list[int]]:
    """Why a cycle starts now (None: it does not) and the alarms it answers."""
    trigger = config.trigger
    fresh = [int(a["id"]) for a in alarms if int(a["id"]) not in current.handled_alarms]
    waited = (current.last_end is None
              or now - current.last_end >= span_s(trigger.retry_after, "retry_after"))
    if trigger.on_alarm and alarms and (fresh or waited):
        return "alarm", [int(a["id"]) for a in alarms]
    if trigger.every is not None and (current.last_start is None or now - current.last_start
                                      >= span_s(trigger.every, "every")):
        return "schedule", []
    return None, []


def _maybe_start(ctx: TickContext, task: Any, current: h.LoopState,
                 alarms: list[dict[str, Any]], now: float) -> TickReport:
    config = ctx.config
    reason, alarm_ids = _due(config, current, alarms, now)
    if reason is None:
        return TickReport(config.loop_name, current.cycle, "idle")
    record = _Recorder(ctx, current.cycle + 1, now)
    record(h.TRIGGER, h.OK, {"reason": reason, "alarms": alarm_ids})
    action = _cycle(ctx, task, current, record, now)
    return TickReport(config.loop_name, current.cycle + 1, action, record.events)


def _cycle(ctx: TickContext, task: Any, current: h.LoopState, record: _Recorder,
           now: float) -> str:
    """Budget, harvest, optimize, gate, candidate, experiment; returns the tick's action."""
    from honed.lifecycle.registry import PromptRef

    config = ctx.config
    budget = config.budget_per_day
    left = budget.max_calls - current.spent_calls
    if left < min(config.optimize.max_calls, 50) or (
            budget.max_usd is not None and current.spent_usd >= budget.max_usd):
        record(h.BUDGET, h.SKIPPED, {"calls_left_24h": left, "spent_usd_24h":
                                     current.spent_usd})
        return "stopped"
    data = harvest(ctx.log_store, config, target_field(task), now)
    if data.rows < config.harvest.min_rows or not data.test or not data.val:
        record(h.HARVEST, h.SKIPPED, {**data.to_dict(), "min_rows": config.harvest.min_rows})
        return "stopped"
    record(h.HARVEST, h.OK, data.to_dict())
    production = ctx.registry.get(PromptRef(config.prompt, alias=config.alias))
    try:
        optimized = optimize(cycle_task(task, production, data, config), ctx.home, config,
                             min(config.optimize.max_calls, left), ctx.model)
    except HonedError as exc:  # a provider outage, a bad setting: the cycle ends, recorded
        record(h.OPTIMIZE, h.FAILED, {"error": f"{type(exc).__name__}: {exc}"})
        return "stopped"
    record(h.OPTIMIZE, h.OK, {"run_id": optimized.result.get("run_id"),
                              "production_version": production.version,
                              "best_val": (optimized.result["best"]["val"] or {}).get("score"),
                              "seed_val": (optimized.result["seed"]["val"] or {}).get("score"),
                              "stopped": optimized.result.get("stopped")},
           calls=optimized.calls, cost_usd=optimized.cost_usd)
    passed, evidence = gate(optimized, config)
    record(h.GATE, h.OK if passed else h.SKIPPED, evidence)
    if not passed:
        return "stopped"
    record(h.CANDIDATE, h.OK, {"version": optimized.version,
                               "prompt": optimized.result["best"].get("prompt")})
    try:
        name = start_experiment(ctx.log_store, ctx.registry, config, record.cycle,
                                int(optimized.version or 0), now)
    except HonedError as exc:  # blocked by a gate, an experiment already splitting the alias
        record(h.EXPERIMENT, h.FAILED, {"error": f"{type(exc).__name__}: {exc}"})
        return "stopped"
    record(h.EXPERIMENT, h.OK, {"experiment": name, "control": f"{config.prompt}@"
                                f"{config.alias}", "treatment": f"{config.prompt}/"
                                f"{optimized.version}"})
    return "started"
