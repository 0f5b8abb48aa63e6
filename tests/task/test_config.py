from pathlib import Path

import pytest

from honed import Task
from honed.errors import ConfigError, DatasetError
from honed.task.config import load_splits, load_task, task_json_schema


def test_loads_and_resolves_relative_paths(make_task) -> None:
    task = load_task(make_task())
    splits = load_splits(task)
    assert task.name == "t" and task.model.spec == "fake"
    assert len(splits.train) == 10 and splits.carving == ""


def test_model_accepts_string_or_mapping(make_task) -> None:
    path = make_task(make_task().read_text().replace(
        "model: fake", "model:\n  spec: openai:gpt-4o-mini\n  temperature: 0.5"))
    cfg = load_task(path).model
    assert cfg.spec == "openai:gpt-4o-mini" and cfg.temperature == 0.5


def test_carves_val_and_test_when_absent(make_task, tmp_path: Path) -> None:
    body = make_task().read_text().replace("  val: data/val.jsonl\n", "").replace(
        "  test: data/test.jsonl\n", "")
    splits = load_splits(load_task(make_task(body)))
    assert len(splits.train) + len(splits.val) + len(splits.test) == 10
    assert "carved" in splits.carving and "seed 0" in splits.carving


@pytest.mark.parametrize(("edit", "message", "culprit"), [
    (lambda s: s.replace("name: t", "name: t\nbogus: 1"), "unknown field", "bogus"),
    (lambda s: s.replace("exact_match", "telepathy"), "unknown eval type 'telepathy'", "evals.0"),
    (lambda s: s.replace("'{text}'", "'{txt}'"), "unknown template variable {txt}",
     "prompt.user"),
    (lambda s: s.replace("expected: '{label}'", "expected: '{gold}'"),
     "unknown template variable {gold}", "evals.0"),
    (lambda s: s + "  - :\n bad: [", "invalid YAML", "task.yaml"),
])
def test_bad_task_files(make_task, edit, message: str, culprit: str) -> None:
    path = make_task(edit(make_task().read_text()))
    with pytest.raises(ConfigError) as info:
        load_splits(load_task(path))
    assert message in str(info.value) and culprit in str(info.value)


def test_unknown_field_reports_line(make_task) -> None:
    path = make_task(make_task().read_text().replace("prompt:\n", "prompt:\n  sistem: x\n"))
    with pytest.raises(ConfigError) as info:
        load_task(path)
    assert "task.yaml:5" in str(info.value) and "prompt.sistem" in str(info.value)


def test_missing_dataset(make_task) -> None:
    path = make_task(make_task().read_text().replace("data/test.jsonl", "data/none.jsonl"))
    with pytest.raises(DatasetError, match=r"none\.jsonl"):
        load_splits(load_task(path))


def test_python_api_with_inline_rows() -> None:
    task = Task(name="py", model="fake", prompt={"user": "{q}"},
                data={"train": [{"q": str(i), "a": str(i)} for i in range(10)]},
                evals=[{"type": "exact_match", "expected": "{a}"}])
    splits = load_splits(task)
    assert task.target_template() == "{a}"
    assert len(splits.test) == 2 and len(splits.val) == 2 and len(splits.train) == 6


def test_schema_exports() -> None:
    schema = task_json_schema()
    assert "prompt" in schema["properties"] and "evals" in schema["properties"]
