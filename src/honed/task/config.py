"""Loading tasks from YAML (the only YAML parser in honed) and their datasets.

Every problem becomes a ``ConfigError``/``DatasetError`` naming the file, the line where known,
the field and the fix.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import ValidationError

from honed.errors import ConfigError, DatasetError
from honed.task.dataset import Splits, carve, field_names, read_rows, to_examples
from honed.task.task import Task
from honed.task.template import unknown_variables
from honed.types import Example


def yaml_loader() -> Any:
    from ruamel.yaml import YAML

    yaml = YAML(typ="rt")
    yaml.preserve_quotes = True
    return yaml


def read_yaml(path: Path) -> Any:
    from ruamel.yaml.error import MarkedYAMLError, YAMLError

    if not path.exists():
        raise ConfigError("task file not found", file=str(path))
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"not UTF-8 (byte {exc.start})", file=str(path),
                          fix="re-save the file as UTF-8") from None
    try:
        return yaml_loader().load(text)
    except MarkedYAMLError as exc:
        mark = exc.problem_mark
        line = mark.line + 1 if mark is not None else None
        raise ConfigError(f"invalid YAML: {exc.problem}", file=str(path), line=line) from None
    except YAMLError as exc:
        raise ConfigError(f"invalid YAML: {exc}", file=str(path)) from None


def _line_of(doc: Any, loc: tuple[Any, ...]) -> int | None:
    """1-based line of the deepest node of ``loc`` that the round-trip document knows."""
    node, line = doc, None
    for key in loc:
        lc = getattr(node, "lc", None)
        try:
            if lc is not None and isinstance(key, str | int):
                line = (lc.key(key) if isinstance(key, str) else lc.item(key))[0] + 1
            node = node[key]
        except (KeyError, IndexError, TypeError):
            break
    return line


def _describe(error: dict[str, Any]) -> tuple[str, str | None]:
    kind, msg = error["type"], error["msg"]
    if kind == "extra_forbidden":
        return "unknown field", "remove it or check its spelling (see `honed schema`)"
    if kind == "union_tag_invalid":
        from honed.task.eval_specs import EVAL_TYPES

        found = error["input"].get("type") if isinstance(error["input"], dict) else None
        return f"unknown eval type {found!r}", f"use one of: {', '.join(EVAL_TYPES)}"
    if kind == "missing":
        return "required field is missing", None
    return msg, None


def validation_error(exc: ValidationError, source: str, doc: Any = None) -> ConfigError:
    first = exc.errors()[0]
    loc = tuple(p for p in first["loc"] if not (isinstance(p, str) and p in _union_tags()))
    field = ".".join(str(p) for p in loc) or None
    message, fix = _describe(first)
    more = len(exc.errors()) - 1
    if more:
        message += f" (and {more} more problem{'s' if more > 1 else ''})"
    return ConfigError(message, file=source, field=field,
                       line=_line_of(doc, loc) if doc is not None else None, fix=fix)


def _union_tags() -> set[str]:
    from honed.task.eval_specs import EVAL_TYPES

    return {*EVAL_TYPES, "str", "list[dict[str,any]]"}


def _plain(node: Any) -> Any:
    """ruamel's round-trip containers -> plain dicts/lists/strings for pydantic."""
    if isinstance(node, dict):
        return {str(k): _plain(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_plain(v) for v in node]
    if isinstance(node, str):
        return str(node)
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


def _load_split(task: Task, value: Any, name: str) -> tuple[Example, ...]:
    if isinstance(value, str):
        file = task.base_dir / value
        return to_examples(read_rows(file), str(file), task.data.id_field)
    return to_examples(value, f"{task.source} (data.{name})", task.data.id_field)


def load_splits(task: Task) -> Splits:
    """Load train/val/test; carve missing val/test from train with the fixed split seed."""
    data, notes = task.data, []
    train = _load_split(task, data.train, "train")
    val = _load_split(task, data.val, "val") if data.val is not None else None
    test = _load_split(task, data.test, "test") if data.test is not None else None
    if test is None:
        train, test = carve(train, data.split.test, data.split.seed)
        notes.append(f"test: {len(test)} carved from train")
    if val is None:
        train, val = carve(train, data.split.val, data.split.seed + 1)
        notes.append(f"val: {len(val)} carved from train")
    if notes:
        notes.append(f"seed {data.split.seed}")
    splits = Splits(train, val, test, ", ".join(notes))
    check_templates(task, splits)
    return splits


def check_templates(task: Task, splits: Splits) -> None:
    """Every placeholder in the prompt and evals must name a dataset field."""
    fields = field_names(splits.train + splits.val + splits.test)
    for part in ("system", "user"):
        missing = unknown_variables([getattr(task.prompt, part)], fields)
        if missing:
            raise ConfigError(f"unknown template variable {{{missing[0]}}}", file=task.source,
                              field=f"prompt.{part}",
                              fix=f"dataset fields are: {', '.join(sorted(fields))}")
    for index, spec in enumerate(task.evals):
        templates = [v for v in (getattr(spec, "expected", None), getattr(spec, "value", None))
                     if isinstance(v, str)]
        missing = unknown_variables(templates, fields)
        if missing:
            raise ConfigError(f"unknown template variable {{{missing[0]}}}", file=task.source,
                              field=f"evals.{index}",
                              fix=f"dataset fields are: {', '.join(sorted(fields))}")
    unknown = [d for d in task.prompt.demos if d not in {ex.id for ex in splits.train}]
    if unknown:
        raise DatasetError(f"demo id {unknown[0]!r} is not in the train split",
                           file=task.source, field="prompt.demos")


def task_json_schema() -> dict[str, Any]:
    return Task.model_json_schema()


def _yaml_text(text: str) -> Any:
    from ruamel.yaml.scalarstring import LiteralScalarString

    return LiteralScalarString(text) if "\n" in text else text


def set_prompt(doc: Any, candidate: Any) -> None:
    """Write a candidate's system/user/demos into a round-trip task document in place."""
    from ruamel.yaml.comments import CommentedMap, CommentedSeq

    prompt = doc.get("prompt")
    if not isinstance(prompt, dict):
        prompt = doc["prompt"] = CommentedMap()
    prompt.pop("registry", None)
    prompt["system"] = _yaml_text(candidate.system)
    prompt["user"] = _yaml_text(candidate.user)
    if candidate.demos:
        demos = CommentedSeq(list(candidate.demos))
        demos.fa.set_flow_style()
        prompt["demos"] = demos
    else:
        prompt.pop("demos", None)


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


def write_optimized_task(task: Task, candidate: Any, run_id: str,
                         scores: dict[str, tuple[float, float]]) -> Path:
    """``<file>.optimized.yaml`` beside the task file: the same task with the best prompt."""
    source = Path(task.source)
    doc = read_yaml(source)
    set_prompt(doc, candidate)
    summary = ", ".join(f"{split} {a:.3f} -> {b:.3f}" for split, (a, b) in scores.items())
    out = source.with_name(f"{source.stem}.optimized.yaml")
    dump_yaml(doc, out, like=source.read_text(encoding="utf-8"),
              header=f"Optimized by honed run {run_id}: {summary}")
    return out
