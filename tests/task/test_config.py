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


@pytest.mark.parametrize(("old", "new", "field", "line", "suggestion"), [
    ("evals:", "evls:", "evls", 11, "evals"),
    ("  system: Classify.", "  sytem: Classify.", "prompt.sytem", 5, "system"),
    ("    expected: '{label}'", "    expectd: '{label}'", "evals.0.expectd", 13, "expected"),
    ("model: fake", "model:\n  spec: fake\n  temprature: 0", "model.temprature", 4,
     "temperature"),
    ("  train: data/train.jsonl", "  trian: data/train.jsonl", "data.trian", 8, "train"),
])
def test_typo_names_the_key_and_suggests_the_nearest(make_task, old: str, new: str, field: str,
                                                     line: int, suggestion: str) -> None:
    path = make_task(make_task().read_text().replace(old, new))
    with pytest.raises(ConfigError) as info:
        load_task(path)
    key = field.rsplit(".", 1)[-1]
    assert str(info.value) == (f"{path}:{line} ({field}): unknown field {key!r}\n"
                               f"  fix: did you mean {suggestion!r}?")


def test_unknown_key_without_a_near_one_lists_the_valid_ones(make_task) -> None:
    path = make_task(make_task().read_text().replace("prompt:\n", "prompt:\n  zzzz: 1\n"))
    with pytest.raises(ConfigError) as info:
        load_task(path)
    assert "unknown field 'zzzz'" in str(info.value)
    assert "valid here: system, user, demos, registry" in str(info.value)


def test_eval_type_typo_suggests_the_type(make_task) -> None:
    path = make_task(make_task().read_text().replace("exact_match", "exact_mach"))
    with pytest.raises(ConfigError, match="did you mean 'exact_match'"):
        load_task(path)


def test_json_schema_alias_is_suggested(make_task) -> None:
    path = make_task(make_task().read_text().replace(
        "  - type: exact_match\n    expected: '{label}'\n",
        "  - type: json_schema\n    shema: {}\n"))
    with pytest.raises(ConfigError, match="did you mean 'schema'"):
        load_task(path)


@pytest.mark.parametrize(("encoding", "loads"), [("utf-8-sig", True), ("utf-16", True),
                                                 ("latin-1", False)])
def test_task_file_encodings(make_task, encoding: str, loads: bool) -> None:
    path = make_task()
    path.write_bytes(path.read_text().replace("Classify.", "Classé.").encode(encoding))
    if loads:
        assert load_task(path).prompt.system == "Classé."
        return
    with pytest.raises(ConfigError) as info:
        load_task(path)
    assert f"{path}:5: not UTF-8" in str(info.value) and "Latin-1" in str(info.value)


def test_tabs_and_unreadable_task_paths(make_task, tmp_path: Path) -> None:
    path = make_task(make_task().read_text().replace("  user:", "\tuser:"))
    with pytest.raises(ConfigError, match="indent with spaces, not tabs"):
        load_task(path)
    with pytest.raises(ConfigError, match="found a directory"):
        load_task(tmp_path)
    with pytest.raises(ConfigError, match="cannot read"):
        load_task(tmp_path / "a\x00.yaml")


@pytest.mark.parametrize(("rows", "message"), [
    ([{"text": "a", "label": "x"}, {"text": "b"}], "row 2 (id "),
    ([{"text": "a", "label": "x"}, {"label": "y"}], "no field 'text', which prompt.user uses"),
])
def test_rows_missing_a_template_field_are_named(make_task, rows: list[dict],
                                                 message: str) -> None:
    with pytest.raises(DatasetError) as info:
        load_splits(load_task(make_task(rows=rows)))
    assert message in str(info.value) and "train.jsonl" in str(info.value)


def test_numeric_eval_on_text_references(make_task) -> None:
    path = make_task(make_task().read_text().replace("exact_match", "numeric"))
    with pytest.raises(DatasetError) as info:
        load_splits(load_task(path))
    assert "evals.0 (numeric) expects a number" in str(info.value)
    assert "train.jsonl" in str(info.value) and "'positive'" in str(info.value)


def test_unknown_target_variable(make_task) -> None:
    path = make_task(make_task().read_text() + "target: '{answer}'\n")
    with pytest.raises(ConfigError, match=r"\(target\): unknown template variable \{answer\}"):
        load_splits(load_task(path))


def test_too_few_rows_to_carve(make_task) -> None:
    body = make_task().read_text().replace("  val: data/val.jsonl\n", "").replace(
        "  test: data/test.jsonl\n", "")
    path = make_task(body, rows=[{"text": "a", "label": "b"}, {"text": "c", "label": "d"}])
    with pytest.raises(DatasetError, match=r"2 example\(s\) are too few to carve"):
        load_splits(load_task(path))


@pytest.mark.parametrize(("model", "where", "message"), [
    ("model: acme:x", ":2 (model)", "unknown model provider 'acme'"),
    ("model: fake:bogus", ":2 (model)", "unknown fake model option 'bogus'"),
    ("model: fake\njudge_model: 'openai:'", ":3 (judge_model)", "'openai' needs a model name"),
])
def test_model_specs_are_checked_at_load(make_task, model: str, where: str,
                                         message: str) -> None:
    path = make_task(make_task().read_text().replace("model: fake", model))
    with pytest.raises(ConfigError) as info:
        load_task(path)
    assert f"task.yaml{where}: {message}" in str(info.value) and "fix: " in str(info.value)


def test_registry_reference_is_checked_at_load(make_task) -> None:
    path = make_task(make_task().read_text().replace("prompt:\n", "prompt:\n  registry: a b\n"))
    with pytest.raises(ConfigError) as info:
        load_task(path)
    assert "task.yaml:5 (prompt.registry): 'a b' is not a prompt reference" in str(info.value)
    assert "fix: use NAME@ALIAS" in str(info.value)
