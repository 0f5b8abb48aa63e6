"""One monitoring pass over a real SQLite production log: quality alarms from feedback, input
and output shift, scoring a sample with the task's evals (once), and the read-only status."""

from __future__ import annotations

from pathlib import Path

from honed.monitor import MonitorConfig, check, status
from honed.store.monitor import MonitorStore

from .conftest import fill

NOW = 1_000_000.0


def config(**overrides: object) -> MonitorConfig:
    settings = {"reference_n": 200, "reference_margin": 0.0, "window": 200, **overrides}
    return MonitorConfig(prompt="support", days=365 * 100, **settings)  # type: ignore[arg-type]


def test_a_steady_version_raises_no_alarm(store) -> None:
    fill(store, 600, p_right=0.8, seed=1)
    report = check(store, config(), now=NOW)
    assert report.new_alarms == [] and not report.alarmed
    (version,) = report.versions
    assert version.requests == 600 and version.quality.n == 600
    assert 0.75 < version.quality.mean < 0.85 and version.quality.reference is not None
    assert version.series and sum(p["n"] for p in version.series) == 600


def test_a_quality_drop_raises_one_alarm_with_its_evidence(store) -> None:
    fill(store, 400, p_right=0.85, seed=2)
    fill(store, 600, p_right=0.55, seed=3, start=2_000.0, prefix="late")
    first = check(store, config(), now=NOW)
    kinds = {a["kind"] for a in first.new_alarms}
    assert "quality" in kinds
    alarm = next(a for a in first.new_alarms if a["kind"] == "quality")
    assert alarm["request_id"].startswith("late")  # it fired after the drop, not before
    assert alarm["evidence"]["reference"] > 0.75 and alarm["evidence"]["recent_mean"] < 0.7
    again = check(store, config(), now=NOW)
    assert again.new_alarms == []  # one alarm per episode
    assert len(MonitorStore.of(store).alarms("support", open_only=True)) == len(first.alarms)


def test_a_shift_in_the_labels_asked_about_raises_an_input_alarm(store) -> None:
    fill(store, 300, p_right=0.9, seed=4, labels=["billing", "card"])
    fill(store, 300, p_right=0.9, seed=5, labels=["refund", "transfer"], start=2_000.0,
         prefix="late")
    report = check(store, config(window=200), now=NOW)
    shift = report.versions[0].shift
    assert shift.alarmed and shift.worst == "output_psi"
    assert shift.measures["output_psi"] >= 0.25
    assert any(a["kind"] == "inputs" for a in report.new_alarms)


def test_versions_are_watched_apart(store) -> None:
    fill(store, 300, p_right=0.9, seed=6, version=1)
    fill(store, 300, p_right=0.5, seed=7, version=2, start=5_000.0, prefix="v2-")
    report = check(store, config(), now=NOW)
    assert [v.version for v in report.versions] == [1, 2]
    assert report.versions[0].quality.mean > report.versions[1].quality.mean
    assert report.new_alarms == []  # each is steady against its own reference


def test_status_changes_nothing(store) -> None:
    fill(store, 400, p_right=0.85, seed=2)
    fill(store, 600, p_right=0.55, seed=3, start=2_000.0, prefix="late")
    seen = status(store, config(), now=NOW)
    assert seen.versions[0].quality.alarmed and seen.alarms == []
    assert MonitorStore.of(store).alarms() == []


def test_a_sample_is_scored_with_the_tasks_evals_once(store, tmp_path: Path) -> None:
    from honed.task.config import load_task

    (tmp_path / "d.jsonl").write_text('{"text": "x", "label": "billing"}\n')
    task_file = tmp_path / "task.yaml"
    task_file.write_text(
        "name: support\nmodel: {spec: fake}\ntracking: none\n"
        "prompt: {system: 'Classify.', user: '{text}'}\n"
        "data: {train: d.jsonl, test: d.jsonl}\n"
        "evals:\n  - {type: exact_match, expected: '{label}'}\n")
    task = load_task(task_file)
    fill(store, 300, p_right=0.8, seed=8)
    report = check(store, config(sample=0.5), task=task, now=NOW)
    stored = MonitorStore.of(store).scores(f"r{i}" for i in range(300))
    (name,) = stored
    assert 100 < report.scored == len(stored[name]) < 200  # about half, by a hash of the id
    assert check(store, config(sample=0.5), task=task, now=NOW).scored == 0


def test_clearing_restarts_detection_after_the_alarm(store) -> None:
    fill(store, 400, p_right=0.85, seed=2)
    # every answer wrong: the CUSUM alarms after about 12, and the 8 after that are not
    # enough on their own to alarm again
    fill(store, 20, p_right=0.0, seed=3, start=2_000.0, prefix="late")
    (first,) = [a for a in check(store, config(), now=NOW).new_alarms if a["kind"] == "quality"]
    assert 8 <= int(first["request_id"].removeprefix("late")) <= 15
    monitor = MonitorStore.of(store)
    assert monitor.clear_alarms("support", by="test") == 1
    assert check(store, config(), now=NOW).new_alarms == []  # not the same episode again
    fill(store, 300, p_right=0.85, seed=9, start=5_000.0, prefix="recovered")
    assert check(store, config(), now=NOW).new_alarms == []  # recovered: quiet
    fill(store, 40, p_right=0.0, seed=10, start=6_000.0, prefix="again")
    (second,) = [a for a in check(store, config(), now=NOW).new_alarms
                 if a["kind"] == "quality"]
    assert second["id"] != first["id"] and second["request_id"].startswith("again")
