"""Loading tasks from YAML (the only YAML parser in honed) and their datasets.

Every problem becomes a ``ConfigError``/``DatasetError`` naming the file, the line where known,
the field and the fix.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from honed.errors import ConfigError, DatasetError
from honed.task.checks import check_demos, check_rows, check_variables
from honed.task.dataset import Splits, carve, field_names, read_rows, to_examples
from honed.task.task import Task
from honed.task.textfile import read_text
from honed.task.validation import validation_error
from honed.types import Example

__all__ = ["check_templates", "dump_yaml", "load_splits", "load_task", "read_yaml", "set_prompt",
           "task_json_schema", "validation_error", "yaml_loader"]


def yaml_loader() -> Any:
    from ruamel.yaml import YAML

    yaml = YAML(typ="rt")
    yaml.preserve_quotes = True
    return yaml


def read_yaml(path: Path) -> Any:
    """The round-trip document of a YAML file; any problem is a ConfigError naming the line."""
    from ruamel.yaml.error import MarkedYAMLError, YAMLError

    text = read_text(path, ConfigError, "task file")
    try:
        return yaml_loader().load(text)
    except MarkedYAMLError as exc:
        mark = exc.problem_mark
        line = mark.line + 1 if mark is not None else None
        raise ConfigError(f"invalid YAML: {exc.problem}", file=str(path), line=line,
                          fix=_yaml_fix(text, line)) from None
    except YAMLError as exc:
        raise ConfigError(f"invalid YAML: {exc}", file=str(path)) from None
    except RecursionError:
        raise ConfigError("invalid YAML: nested too deeply", file=str(path)) from None
    except ValueError as exc:  # a scalar that cannot be built, e.g. an integer too long
        raise ConfigError(f"invalid YAML: {exc}", file=str(path)) from None


def _yaml_fix(text: str, line: int | None) -> str | None:
    if line is not None and "\t" in "".join(text.split("\n")[max(0, line - 2):line]):
        return "indent with spaces, not tabs"
    return None


def _plain(node: Any) -> Any:
    """ruamel's round-trip containers and scalars -> plain dicts, lists, str, int, float."""
    from ruamel.yaml.comments import TaggedScalar
    from ruamel.yaml.scalarbool import ScalarBoolean

    if isinstance(node, dict):
        return {str(k): _plain(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_plain(v) for v in node]
    if isinstance(node, ScalarBoolean):
        return bool(node)
    for kind in (str, bool, int, float):
        if isinstance(node, kind):
            return kind(node)
    if isinstance(node, TaggedScalar):
        return str(node.value)
    return node


def load_task(path: str | Path) -> Task:
    """Read and validate a task file; relative paths resolve against its folder."""
    path = Path(path)
    doc = read_yaml(path)
    if not isinstance(doc, dict):
        raise ConfigError("a task file must be a YAML mapping", file=str(path),
                          fix="start from examples/quickstart/task.yaml")
    try:
        task = Task.model_validate(_plain(doc))
    except ValidationError as exc:
        raise validation_error(exc, str(path), doc) from None
    return task.bind(path.resolve().parent, str(path))


def _load_split(task: Task, value: Any, name: str) -> tuple[tuple[Example, ...], str]:
    """A split's examples and the name of their source (a file, or the task's inline rows)."""
    if isinstance(value, str):
        file = task.base_dir / value
        return to_examples(read_rows(file), str(file), task.data.id_field), str(file)
    source = f"{task.source} (data.{name})"
    return to_examples(value, source, task.data.id_field), source


def load_splits(task: Task) -> Splits:
    """Load train/val/test; carve missing val/test from train with the fixed split seed."""
    data, notes = task.data, []
    given = {name: _load_split(task, value, name)
             for name, value in (("train", data.train), ("val", data.val), ("test", data.test))
             if value is not None}
    check_variables(task, field_names(ex for examples, _ in given.values() for ex in examples))
    for name, (examples, source) in given.items():
        check_rows(task, examples, source, name)
    train = given["train"][0]
    val = given["val"][0] if "val" in given else None
    test = given["test"][0] if "test" in given else None
    if test is None:
        train, test = carve(train, data.split.test, data.split.seed)
        notes.append(f"test: {len(test)} carved from train")
    if val is None:
        train, val = carve(train, data.split.val, data.split.seed + 1)
        notes.append(f"val: {len(val)} carved from train")
    if not train:
        raise DatasetError(f"{len(given['train'][0])} example(s) are too few to carve val and "
                           "test from train", file=given["train"][1], field="data.train",
                           fix="add examples, or give data.val and data.test")
    if notes:
        notes.append(f"seed {data.split.seed}")
    splits = Splits(train, val, test, ", ".join(notes))
    check_templates(task, splits)
    return splits


def check_templates(task: Task, splits: Splits) -> None:
    """Every placeholder in the prompt, evals and target names a dataset field; demos are train
    example ids or inline rows with the fields the prompt and the demo answer use."""
    fields = field_names(splits.train + splits.val + splits.test)
    check_variables(task, fields)
    check_demos(task, splits.train, fields)


def task_json_schema() -> dict[str, Any]:
    return Task.model_json_schema()


def _yaml_text(text: str) -> Any:
    from ruamel.yaml.scalarstring import LiteralScalarString

    return LiteralScalarString(text) if "\n" in text else text


def set_prompt(doc: Any, candidate: Any,
               demo_rows: Mapping[str, Example] | None = None) -> None:
    """Write a candidate's system/user/demos into a round-trip task document in place.

    A demo is written as its row (block style, so the file shows it and no longer depends on
    the dataset) when ``demo_rows`` or the document's own inline demos hold it; otherwise as
    its id.
    """
    from ruamel.yaml.comments import CommentedMap

    prompt = doc.get("prompt")
    if not isinstance(prompt, dict):
        prompt = doc["prompt"] = CommentedMap()
    prompt.pop("registry", None)
    prompt["system"] = _yaml_text(candidate.system)
    prompt["user"] = _yaml_text(candidate.user)
    if candidate.demos:
        prompt["demos"] = _demos_node(doc, tuple(candidate.demos), demo_rows or {})
    else:
        prompt.pop("demos", None)


def _id_field(doc: Any) -> str | None:
    data = doc.get("data")
    value = data.get("id_field") if isinstance(data, dict) else None
    return str(value) if isinstance(value, str) else None


def _demos_node(doc: Any, demo_ids: tuple[str, ...], rows: Mapping[str, Example]) -> Any:
    from ruamel.yaml.comments import CommentedSeq

    from honed.task.task import PromptConfig

    id_field = _id_field(doc)
    old = doc["prompt"].get("demos")
    inline = {} if not isinstance(old, list) else {
        demo_id: row for demo_id, row in PromptConfig.model_construct(
            demos=[d for d in _plain(old) if isinstance(d, str | dict)]).demo_items(id_field)
        if row is not None}
    items: list[Any] = [dict(rows[d].fields) if d in rows else inline.get(d, d)
                        for d in demo_ids]
    for _ in range(len(items) + 1):  # a row whose computed id differs stays an id
        ids = PromptConfig.model_construct(demos=items).demo_ids(id_field)
        wrong = [i for i, got in enumerate(ids) if got != demo_ids[i]]
        if not wrong:
            break
        items[wrong[0]] = demo_ids[wrong[0]]
    if all(isinstance(item, str) for item in items):
        seq = CommentedSeq(items)
        seq.fa.set_flow_style()
        return seq
    return CommentedSeq([_yaml_value(item) for item in items])


def _yaml_value(value: Any) -> Any:
    from ruamel.yaml.comments import CommentedMap, CommentedSeq

    if isinstance(value, str):
        return _yaml_text(value)
    if isinstance(value, dict):
        return CommentedMap((str(k), _yaml_value(v)) for k, v in value.items())
    if isinstance(value, list | tuple):
        return CommentedSeq(_yaml_value(v) for v in value)
    return value


def dump_yaml(doc: Any, path: Path, *, like: str = "", header: str = "") -> None:
    """Write a round-trip document; ``like`` is the original text, whose list indentation
    style is kept; ``header`` becomes a comment line on top (existing comments are kept)."""
    import io
    import re

    yaml = yaml_loader()
    if re.search(r"^\S[^\n]*:[ \t]*\n  - ", like, re.M):
        yaml.indent(mapping=2, sequence=4, offset=2)
    buffer = io.StringIO()
    yaml.dump(doc, buffer)
    top = "".join(f"# {line}\n" for line in header.splitlines())
    path.write_text(top + buffer.getvalue(), encoding="utf-8")
