"""Ticks that end a cycle early, each with its reason recorded: the day's budget is spent, or
there is too little feedback to learn from; and the CLI's ``loop tick|run|status``."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.monitor.conftest import fill

from honed.cli.app import main
from honed.engine.session import honed_home
from honed.lifecycle.registries import open_registry
from honed.lifecycle.registry import PRODUCTION
from honed.loop import TickContext, load_loop, tick
from honed.store import LogStore, open_store
from honed.store.monitor import MonitorStore
from honed.types import Candidate

TASK = ("name: support\nmodel: fake\ntracking: none\n"
        "prompt: {system: 'Classify.', user: '{text}'}\ndata: {train: seed.jsonl}\n"
        "evals:\n  - {type: exact_match, expected: '{label}'}\n")


def loop_file(tmp_path: Path, extra: str = "") -> Path:
    (tmp_path / "seed.jsonl").write_text('{"text": "x", "label": "billing"}\n')
    (tmp_path / "task.yaml").write_text(TASK)
    path = tmp_path / "loop.yaml"
    path.write_text("prompt: support\ntask: task.yaml\ntrigger: {every: 1h}\n"
                    "monitor: {sample: 0.2}\n" + extra)
    return path


@pytest.fixture
def store() -> Iterator[LogStore]:
    registry = open_registry(honed_home(), backend="local")
    version = registry.register("support", Candidate({"system": "Classify.", "user": "{text}"}))
    registry.set_alias("support", PRODUCTION, version.version)
    registry.close()  # type: ignore[attr-defined]
    with open_store(home=honed_home()) as opened:
        fill(opened, 100, p_right=0.8, seed=1, start=1e9)
        yield opened


def run_tick(path: Path, store: LogStore, now: float = 1e9 + 200) -> dict:
    registry = open_registry(honed_home(), backend="local")
    try:
        return tick(TickContext(load_loop(path), store, registry, honed_home()),
                    now=now).to_dict()
    finally:
        registry.close()  # type: ignore[attr-defined]


def test_a_spent_budget_stops_the_cycle_before_any_call(store: LogStore,
                                                        tmp_path: Path) -> None:
    MonitorStore.of(store).add_event({"loop": "support", "step": "optimize", "status": "ok",
                                      "cycle": 0, "calls": 1990, "created": 1e9 + 100})
    report = run_tick(loop_file(tmp_path), store)
    assert report["action"] == "stopped"
    assert [(e["step"], e["status"]) for e in report["events"]] == [
        ("trigger", "ok"), ("budget", "skipped")]
    assert report["events"][1]["detail"]["calls_left_24h"] == 10
    assert report["monitor"]["scored"] > 0  # the monitor ran all the same


def test_too_little_feedback_stops_the_cycle(store: LogStore, tmp_path: Path) -> None:
    report = run_tick(loop_file(tmp_path, "harvest: {min_rows: 500}\n"), store)
    assert [(e["step"], e["status"]) for e in report["events"]][-1] == ("harvest", "skipped")
    again = run_tick(loop_file(tmp_path, "harvest: {min_rows: 500}\n"), store,
                     now=1e9 + 300)
    assert again["action"] == "idle"  # the schedule is hourly: nothing until then


def test_the_cli_ticks_runs_and_shows_the_loop(store: LogStore, tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    path = loop_file(tmp_path, "harvest: {min_rows: 500}\n")
    assert main(["loop", "tick", str(path), "--json"]) == 0
    first = json.loads(capsys.readouterr().out)
    assert first["cycle"] == 1 and first["events"][-1]["step"] == "harvest"
    assert main(["loop", "run", str(path), "--ticks", "2", "--interval", "0s"]) == 0
    out = capsys.readouterr().out
    assert out.count("loop support: cycle 1, idle") == 2
    assert main(["loop", "status", str(path)]) == 0
    out = capsys.readouterr().out
    assert "cycle 1" in out and "last cycle ended: harvest" in out and "trigger" in out
    assert main(["loop", "tick", str(tmp_path / "missing.yaml")]) == 2
    assert "missing.yaml" in capsys.readouterr().err
