"""Probation: after the loop promotes a candidate, the guardrails its experiment passed keep
watching the promoted version, now on all of the traffic, for ``experiment.probation``. A
breach (judged, as in the experiment, once there are enough requests) rolls the alias back to
the version it replaced: a recorded decision (``honed rollback`` records the same kind) and a
``rollback`` step that ends the cycle.

Only guardrails are watched here: quality after the win is the monitor's, against the version's
own reference, because a fair quality comparison needs the control the experiment had.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from honed.loop import history as h
from honed.loop.config import LoopConfig, span_s


@dataclass(frozen=True)
class Promotion:
    """The promotion a cycle ended with: when, and from which version to which."""

    cycle: int
    at: float
    from_version: int
    to_version: int
    experiment: str | None


def on_probation(config: LoopConfig, events: Sequence[Mapping[str, Any]], current: h.LoopState,
                 now: float) -> Promotion | None:
    """The latest cycle's promotion while its probation lasts (None: nothing to watch)."""
    window = config.experiment.probation
    if window is None or current.last_outcome != "promote" or current.last_end is None:
        return None
    if now - current.last_end > span_s(window, "experiment.probation"):
        return None
    decided = [e for e in events if int(e["cycle"]) == current.cycle and e["step"] == h.DECIDE]
    if not decided:
        return None
    detail = decided[0]["detail"]
    return Promotion(current.cycle, float(decided[0]["created"]),
                     int(detail["from_version"]), int(detail["to_version"]),
                     detail.get("experiment"))


def breaches(config: LoopConfig, rows: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The experiment's guardrails that the promoted version's requests (since its promotion)
    break, each with its value and n."""
    from honed.experiments import parse_guardrails
    from honed.experiments.guardrails import check_guardrail
    from honed.experiments.metrics import request_stats

    stats = request_stats(rows)
    checks = [check_guardrail(g, *stats.guardrail_value(g.metric)) for g in
              parse_guardrails(config.experiment.guardrails, flag="experiment.guardrails")]
    return [c.to_dict() for c in checks if c.breached]


def watch(log_store: Any, registry: Any, config: LoopConfig, promotion: Promotion,
          record: Any, now: float) -> bool:
    """Check the promoted version's guardrails; on a breach roll back and record it. Returns
    whether it rolled back (or tried to: a refusal is recorded as a failed step)."""
    from honed.errors import ConfigError
    from honed.lifecycle.experiments import rollback_decision

    rows = log_store.requests(prompt=config.prompt, version=promotion.to_version,
                              since=promotion.at)
    broken = breaches(config, rows)
    if not broken:
        return False
    what = "; ".join(f"{b['guardrail']} but v{promotion.to_version} has {b['value']:.4g} "
                     f"(n={b['n']})" for b in broken)
    evidence = {"breached": broken, "requests": len(rows), "since": promotion.at,
                "experiment": promotion.experiment}
    try:
        decision = rollback_decision(log_store, registry, config.prompt, now=now,
                                     reason=f"probation: {what}", evidence=evidence)
    except ConfigError as exc:  # the alias moved by hand since: leave it, say why
        record(h.ROLLBACK, h.FAILED, {**evidence, "error": str(exc)})
        return True
    record(h.ROLLBACK, h.OK, {**evidence, "reason": what,
                              "from_version": decision.get("from_version"),
                              "to_version": decision.get("to_version"),
                              "decision": decision.get("id")})
    return True
