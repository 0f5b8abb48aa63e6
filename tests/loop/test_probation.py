"""Probation after a promotion: the experiment's guardrails keep watching the promoted version
on all traffic; a breach rolls the alias back (a recorded decision and a ``rollback`` step),
a healthy version or an expired probation leaves it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from honed.engine.session import honed_home
from honed.lifecycle.registries import open_registry
from honed.lifecycle.registry import PRODUCTION
from honed.loop import load_loop
from honed.store import LogStore, open_store
from honed.store.experiments import ExperimentStore
from honed.store.monitor import MonitorStore
from honed.types import Candidate

from .test_tick import loop_file, run_tick

T = 1e9  # when the loop promoted version 2
DAY = 86_400.0


def promoted(store: LogStore) -> None:
    """Version 2 replaced version 1 in production at T, as a loop's cycle 1 records it."""
    registry = open_registry(honed_home(), backend="local")
    for text in ("v1 {text}", "v2 {text}"):
        registry.register("support", Candidate({"system": "Classify.", "user": text}))
    registry.set_alias("support", PRODUCTION, 2)
    registry.close()  # type: ignore[attr-defined]
    ExperimentStore.of(store).record_decision(
        {"prompt": "support", "kind": "promote", "alias": PRODUCTION, "from_version": 1,
         "to_version": 2, "experiment": "support-cycle-1", "evidence": {}}, now=T)
    events = MonitorStore.of(store)
    for offset, step, detail in ((-50, "trigger", {"reason": "alarm", "alarms": []}),
                                 (-40, "experiment", {"experiment": "support-cycle-1"}),
                                 (0, "decide", {"experiment": "support-cycle-1",
                                                "kind": "promote", "from_version": 1,
                                                "to_version": 2})):
        events.add_event({"loop": "support", "step": step, "status": "ok", "cycle": 1,
                          "created": T + offset, "detail": detail})


def traffic(store: LogStore, n: int, *, errors: int, start: float) -> None:
    store.log_requests([
        {"id": f"p{start:.0f}-{i}", "created": start + i, "prompt": "support", "version": 2,
         "alias": PRODUCTION, "inputs": {"text": f"q{i}"},
         "output": None if i < errors else "billing", "error": "boom" if i < errors else None,
         "latency_s": 0.05, "input_tokens": 5, "output_tokens": 1, "cost_usd": 0.0,
         "user_id": None, "metadata": {}, "arm": None} for i in range(n)])


@pytest.fixture
def store() -> Iterator[LogStore]:
    with open_store(home=honed_home()) as opened:
        promoted(opened)
        yield opened


def run(tmp_path: Path, store: LogStore, now: float,
        probation: str = "3d") -> dict[str, Any]:
    path = loop_file(tmp_path, "experiment: {guardrails: ['error_rate<0.05'], probation: "
                               f"{probation}}}\ntrigger: {{on_alarm: false}}\n")
    path.write_text(path.read_text().replace("trigger: {every: 1h}\n", ""))
    return run_tick(path, store, now)


def production() -> int:
    registry = open_registry(honed_home(), backend="local")
    try:
        return int(registry.aliases("support")[PRODUCTION])
    finally:
        registry.close()  # type: ignore[attr-defined]


def test_a_guardrail_broken_on_probation_rolls_back(store: LogStore, tmp_path: Path) -> None:
    traffic(store, 30, errors=0, start=T - 500)  # the experiment's treatment traffic: not counted
    traffic(store, 80, errors=12, start=T + 10)  # 15% errors once it serves everyone
    report = run(tmp_path, store, T + 3600)
    assert report["action"] == "rolled_back" and production() == 1
    step = report["events"][-1]
    assert (step["step"], step["status"], step["cycle"]) == ("rollback", "ok", 1)
    assert step["detail"]["requests"] == 80 and step["detail"]["to_version"] == 1
    assert step["detail"]["breached"][0]["value"] == pytest.approx(0.15)
    latest = ExperimentStore.of(store).decisions(prompt="support")[0]
    assert latest["kind"] == "rollback" and latest["evidence"]["reason"].startswith(
        "probation: error_rate<0.05 but v2 has 0.15 (n=80)")
    assert ExperimentStore.of(store).decisions(kind="promote")[0]["undone_at"] is not None
    again = run(tmp_path, store, T + 7200)  # the cycle ended with the rollback
    assert again["action"] == "idle" and production() == 1


def test_a_healthy_promotion_stays(store: LogStore, tmp_path: Path) -> None:
    traffic(store, 80, errors=2, start=T + 10)  # 2.5%: within the guardrail
    assert run(tmp_path, store, T + 3600)["action"] == "idle" and production() == 2


def test_too_few_requests_wait_and_an_ended_probation_is_not_watched(
        store: LogStore, tmp_path: Path) -> None:
    traffic(store, 20, errors=20, start=T + 10)  # all failed, but too few to judge yet
    assert run(tmp_path, store, T + 3600)["action"] == "idle" and production() == 2
    traffic(store, 60, errors=30, start=T + 1000)
    late = run(tmp_path, store, T + 4 * DAY)  # probation (3d by default) is over
    assert late["action"] == "idle" and production() == 2
    off = run(tmp_path, store, T + 3600, probation="null")
    assert off["action"] == "idle" and production() == 2


def test_a_bad_probation_span_is_refused_by_name(tmp_path: Path) -> None:
    from honed.errors import ConfigError

    path = loop_file(tmp_path, "experiment: {probation: soon}\n")
    with pytest.raises(ConfigError, match=r"experiment\.probation"):
        load_loop(path)
