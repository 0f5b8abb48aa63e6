"""The loop file: defaults, the task resolved beside it, and every bad value named."""

from __future__ import annotations

from pathlib import Path

import pytest

from honed.errors import ConfigError
from honed.loop import load_loop
from honed.loop.config import span_s


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "loop.yaml"
    path.write_text(text)
    return path


def test_defaults_and_the_task_beside_the_file(tmp_path: Path) -> None:
    config = load_loop(write(tmp_path, "prompt: support\ntask: sub/task.yaml\n"))
    assert config.loop_name == "support" and config.alias == "production"
    assert config.task == (tmp_path / "sub" / "task.yaml").resolve()
    assert config.budget_per_day.max_calls == 2000 and config.trigger.on_alarm
    monitor = config.monitor_config()
    assert monitor.prompt == "support" and monitor.task == config.task


@pytest.mark.parametrize(("text", "named"), [
    ("task: t.yaml\n", "prompt"),
    ("prompt: support\ntask: t.yaml\nharvest: {test_share: 1.5}\n", "harvest.test_share"),
    ("prompt: support\ntask: t.yaml\ntrigger: {every: soon}\n", "trigger.every"),
    ("prompt: support\ntask: t.yaml\ninterval: often\n", "interval"),
    ("prompt: support\ntask: t.yaml\nbudget_per_day: {max_callz: 3}\n", "max_callz"),
    ("prompt: 'bad name'\ntask: t.yaml\n", "prompt"),
    ("- a list\n", "mapping"),
    ("prompt: [unclosed\n", "YAML"),
])
def test_bad_values_are_named(tmp_path: Path, text: str, named: str) -> None:
    with pytest.raises(ConfigError, match=named) as caught:
        load_loop(write(tmp_path, text))
    assert str(tmp_path / "loop.yaml") in str(caught.value.file)


def test_a_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        load_loop(tmp_path / "nope.yaml")


def test_spans() -> None:
    assert span_s("90s", "x") == 90 and span_s("2h", "x") == 7200 and span_s(5, "x") == 5.0
    with pytest.raises(ValueError, match="x: 'soon'"):
        span_s("soon", "x")
