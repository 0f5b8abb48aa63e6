"""The continuous-learning loop end to end, with a scripted model behind a loopback
OpenAI-compatible fake and a real uvicorn server: serve a prompt, replay traffic whose labels
shift half-way, and watch the loop detect the drift, optimize a candidate on the harvested
feedback, test it online and promote it (the served prompt then does better on the shifted
traffic); and a second run where the shift is brief, the candidate loses online and production
stays as it was."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from tests.live_server import serve_in_thread

from honed.cli.app import main
from honed.client import Client
from honed.engine.session import honed_home
from honed.lifecycle.registries import open_registry
from honed.lifecycle.registry import MODEL_TAG, PRODUCTION, PromptRef
from honed.loop import TickContext, load_loop, tick
from honed.providers.fake_server import FakeServer
from honed.server import create_app
from honed.store import open_store
from honed.store.monitor import MonitorStore
from honed.types import Candidate

LABELS = ["billing", "card", "refund", "transfer"]
BEFORE, AFTER = ["billing", "card"], ["refund", "transfer"]


def reply(messages: list[dict[str, Any]]) -> str:
    """A model that only knows the labels its instructions name, the latest list winning
    (a line naming two or more labels replaces what earlier lines said)."""
    system = messages[0]["content"] if messages[0]["role"] == "system" else ""
    text = str(messages[-1]["content"])
    truth = next((w for w in LABELS if re.search(rf"\b{w}\b", text)), "billing")
    lists = [[w for w in LABELS if re.search(rf"\b{w}\b", line)] for line in system.split("\n")]
    known = next((names for names in reversed(lists) if len(names) >= 2), [])
    return truth if truth in known else (known[0] if known else "unknown")


LOOP = """\
prompt: support
task: task.yaml
trigger: {{retry_after: 0s}}
harvest: {{max_rows: 60, min_rows: 30, test_share: 0.3}}
optimize: {{optimizer: auto, max_calls: 200}}
gate: {{min_diff: 0.1}}
experiment: {{split: 0.5, metric: feedback, max_requests: 2000}}
budget_per_day: {{max_calls: 1000}}
monitor: {{sample: 1.0, reference_n: 50, window: 50}}
"""

TASK = """\
name: support
model: {{spec: 'openai:fake', base_url: '{url}'}}
tracking: none
prompt: {{system: 'Classify the request.', user: '{{text}}'}}
data: {{train: seed.jsonl}}
evals:
  - {{type: exact_match, expected: '{{label}}'}}
"""


@dataclass
class World:
    url: str
    client: Client
    feedback: Client
    app: Any
    ctx: TickContext
    sent: int = 0

    def traffic(self, n: int, labels: list[str]) -> float:
        """``n`` requests from new users with the truth as feedback; the share answered
        right."""
        right = 0
        for _ in range(n):
            i, self.sent = self.sent, self.sent + 1
            truth = labels[i % len(labels)]
            answer = self.client.complete("support@production", user_id=f"user-{i}",
                                          text=f"#{i} please help with my {truth} today")
            self.feedback.feedback(answer["id"], label=truth)
            right += answer["output"] == truth
        return right / n

    def tick(self) -> dict[str, Any]:
        report = tick(self.ctx).to_dict()
        self.app.state.service.router.invalidate()  # route a new experiment at once
        return report

    def production(self) -> int:
        return self.ctx.registry.aliases("support")[PRODUCTION]


@pytest.fixture
def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    fake = FakeServer(reply=reply).start()
    monkeypatch.setenv("OPENAI_BASE_URL", fake.url)
    home = honed_home()
    registry = open_registry(home, backend="local")
    v1 = registry.register("support", Candidate({
        "system": "Classify the request as billing or card.", "user": "{text}"}),
        tags={MODEL_TAG: "openai:fake"})
    registry.set_alias("support", PRODUCTION, v1.version)
    (tmp_path / "seed.jsonl").write_text('{"text": "my billing", "label": "billing"}\n')
    (tmp_path / "task.yaml").write_text(TASK.format(url=fake.url))
    (tmp_path / "loop.yaml").write_text(LOOP.format())
    store = open_store(home=home)
    admin = store.create_key("admin", "test")[1]
    app = create_app(home, store, model_override="openai:fake", rate_per_minute=None,
                     cache=False, experiment_check_s=None)
    ctx = TickContext(load_loop(tmp_path / "loop.yaml"), store, registry, home)
    try:
        with serve_in_thread(app) as url, Client(url, admin) as client:
            yield World(url, client, client, app, ctx)
    finally:
        store.close()
        registry.close()  # type: ignore[attr-defined]
        fake.stop()


def _drift_and_start(world: World) -> dict[str, Any]:
    """Steady traffic, then the shift; the loop starts a cycle that ends in an experiment."""
    assert world.traffic(80, BEFORE) == 1.0
    assert world.tick()["action"] == "idle"
    assert world.traffic(80, AFTER) == 0.0  # production does not know the new labels
    report = world.tick()
    assert report["monitor"]["new_alarms"], "the drift was not detected"
    assert {a["kind"] for a in report["monitor"]["new_alarms"]} >= {"quality"}
    steps = [(e["step"], e["status"]) for e in report["events"]]
    assert steps == [("trigger", "ok"), ("harvest", "ok"), ("optimize", "ok"),
                     ("gate", "ok"), ("candidate", "ok"), ("experiment", "ok")], report
    assert report["action"] == "started"
    return report


def test_drift_is_detected_and_a_better_prompt_is_optimized_tested_and_promoted(
        world: World, capsys: pytest.CaptureFixture[str]) -> None:
    started = _drift_and_start(world)
    candidate = started["events"][3]["detail"]["registered"]
    world.traffic(120, AFTER)  # the experiment runs on the shifted traffic
    decided = world.tick()
    assert decided["action"] == "decided", decided
    (decision,) = decided["events"]
    assert decision["step"] == "decide" and decision["detail"]["kind"] == "promote"
    assert world.production() == candidate
    assert MonitorStore.of(world.ctx.log_store).alarms("support", open_only=True) == []
    assert world.traffic(40, AFTER) == 1.0  # the served prompt now handles the shift
    assert world.tick()["action"] == "idle"
    capsys.readouterr()
    code = main(["loop", "status", str(world.ctx.config.task.parent / "loop.yaml")])
    out = capsys.readouterr().out
    assert code == 0 and "decide" in out and "promote" in out and "cycle 1" in out


def test_a_candidate_that_loses_online_leaves_production_unchanged(world: World) -> None:
    _drift_and_start(world)
    world.traffic(120, BEFORE)  # the shift was brief: the candidate knows only the new labels
    decided = world.tick()
    assert decided["action"] == "decided", decided
    assert decided["events"][0]["detail"]["kind"] == "keep"
    assert world.production() == 1
    deadline = time.monotonic() + 10  # the server reloads its routes in the background
    while True:  # routing to the treatment stops (user-0 .. user-9 cover both arms)
        versions = {world.client.complete("support@production", user_id=f"user-{i}",
                                          text="help with my card")["version"]
                    for i in range(10)}
        if versions == {1} or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert versions == {1}
    registry = world.ctx.registry
    assert registry.get(PromptRef("support", alias=PRODUCTION)).version == 1
