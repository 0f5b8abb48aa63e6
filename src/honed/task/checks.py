"""Checks of a task against its data: every template variable names a field of every row that
uses it, numeric references are numbers, and demos (ids or inline rows) fit the prompt.

Each failure is a ConfigError/DatasetError naming the file, the row and the field, and the fix.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from honed.errors import ConfigError, DatasetError
from honed.task.task import Task
from honed.task.template import render, unknown_variables, variables
from honed.types import Example


def eval_templates(spec: Any) -> list[str]:
    """The field templates an eval renders per example (``expected``, ``value``)."""
    found: list[str] = []
    for value in (getattr(spec, "expected", None), getattr(spec, "value", None)):
        if isinstance(value, str):
            found.append(value)
        elif isinstance(value, list):
            found.extend(v for v in value if isinstance(v, str))
    return found


def prompt_fields(task: Task) -> list[str]:
    return list(dict.fromkeys(variables(task.prompt.system) + variables(task.prompt.user)))


def _uses(task: Task, split: str) -> list[tuple[str, str]]:
    """(field, where it is used) for every field a row of ``split`` must have."""
    uses = [(v, f"prompt.{part}") for part in ("system", "user")
            for v in variables(getattr(task.prompt, part))]
    for index, spec in enumerate(task.evals):
        uses += [(v, f"evals.{index}") for t in eval_templates(spec) for v in variables(t)]
    target = task.target_template()
    if split == "train" and target is not None:
        uses += [(v, "target") for v in variables(target)]
    return list(dict.fromkeys(uses))


def check_variables(task: Task, fields: set[str]) -> None:
    """Every placeholder in the prompt, the evals and the target names a dataset field."""
    fix = f"dataset fields are: {', '.join(sorted(fields))}"
    for part in ("system", "user"):
        missing = unknown_variables([getattr(task.prompt, part)], fields)
        if missing:
            raise ConfigError(f"unknown template variable {{{missing[0]}}}", file=task.source,
                              field=f"prompt.{part}", fix=fix)
    for index, spec in enumerate(task.evals):
        missing = unknown_variables(eval_templates(spec), fields)
        if missing:
            raise ConfigError(f"unknown template variable {{{missing[0]}}}", file=task.source,
                              field=f"evals.{index}", fix=fix)
    if task.target is not None:
        missing = unknown_variables([task.target], fields)
        if missing:
            raise ConfigError(f"unknown template variable {{{missing[0]}}}", file=task.source,
                              field="target", fix=fix)


def check_rows(task: Task, examples: Sequence[Example], source: str, split: str) -> None:
    """Each row has the fields the templates use; numeric evals' references are numbers."""
    uses = _uses(task, split)
    for number, ex in enumerate(examples, start=1):
        for name, where in uses:
            if name not in ex.fields:
                raise DatasetError(f"row {number} (id {ex.id}) has no field {name!r}, which "
                                   f"{where} uses", file=source,
                                   fix=f"give every row a {name!r} field, or drop the row")
    _check_numeric(task, examples, source)


def _check_numeric(task: Task, examples: Sequence[Example], source: str) -> None:
    for index, spec in enumerate(task.evals):
        if spec.type != "numeric":
            continue
        for number, ex in enumerate(examples, start=1):
            value = render(spec.expected, ex.fields)
            if not any(c.isdigit() for c in value):
                raise DatasetError(
                    f"row {number} (id {ex.id}): evals.{index} (numeric) expects a number, "
                    f"but {spec.expected} is {_excerpt(value)!r}", file=source,
                    fix="point 'expected' at the field holding the number, or use another "
                        "eval type")


def _excerpt(text: str, width: int = 40) -> str:
    return text if len(text) <= width else text[:width - 3] + "..."


def check_demos(task: Task, train: Iterable[Example], fields: set[str]) -> None:
    """Demo ids name train examples or inline demos; inline demos have the fields the user
    template and the demo answer (``target``) use."""
    demos = task.prompt.demo_items(task.data.id_field)
    if not demos:
        return
    target = task.demo_target_or_error(sorted(fields))
    known = {ex.id for ex in train}
    for index, (demo_id, row) in enumerate(demos):
        if row is None and demo_id not in known:
            raise DatasetError(f"demo id {demo_id!r} is not in the train split",
                              file=task.source, field=f"prompt.demos.{index}",
                              fix="write the demo row itself (its fields) instead of its id, "
                                  "or restore the train row")
        if row is not None:
            _check_inline(task, index, row, target)


def _check_inline(task: Task, index: int, row: Mapping[str, Any], target: str) -> None:
    needed = list(dict.fromkeys(variables(task.prompt.user) + variables(target)))
    missing = [name for name in needed if name not in row]
    if missing:
        raise ConfigError(f"demo {index + 1} has no field {missing[0]!r}", file=task.source,
                          field=f"prompt.demos.{index}",
                          fix=f"a demo row needs the fields the prompt and the demo answer "
                              f"use: {', '.join(needed)}")
