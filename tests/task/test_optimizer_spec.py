"""``optimizer:`` in a task file: a name or a mapping of the name and parameters."""

from __future__ import annotations

import pytest

from honed.errors import ConfigError
from honed.task.config import load_task, task_json_schema


@pytest.mark.parametrize(("text", "name", "params"), [
    ("optimizer: bayes\n", "bayes", {}),
    ("optimizer: {name: bayes, n_trials: 40}\n", "bayes", {"n_trials": 40}),
    ("optimizer:\n  name: dspy:gepa\n  use_merge: false\n  auto: light\n", "dspy:gepa",
     {"use_merge": False, "auto": "light"}),
])
def test_optimizer_as_name_or_mapping(make_task, text: str, name: str, params: dict) -> None:
    task = load_task(make_task(make_task().read_text() + text))
    assert task.optimizer is not None
    assert (task.optimizer.name, task.optimizer.params()) == (name, params)


def test_no_optimizer_by_default(make_task) -> None:
    assert load_task(make_task()).optimizer is None


@pytest.mark.parametrize("text", ["optimizer: 3\n", "optimizer: {name: ''}\n",
                                  "optimizer: [bayes]\n"])
def test_bad_optimizer_is_a_located_config_error(make_task, text: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_task(make_task(make_task().read_text() + text))
    assert "optimizer" in str(info.value) and "task.yaml" in str(info.value)


def test_schema_shows_the_optimizer_field() -> None:
    schema = task_json_schema()
    field = schema["properties"]["optimizer"]
    assert "honed optimizers" in field["description"]
    config = schema["$defs"]["OptimizerConfig"]["anyOf"]
    assert config[0]["type"] == "string" and config[1]["properties"]["name"]["default"] == "auto"
