"""A judge as a task of its own: the input and output it grades are the example, the person's
label is the expected answer, and the ``agrees`` eval scores the judge's answer against it.

The rows are split by item (one output labelled by several people stays in one split),
stratified by label and seeded; the held-out test split is always kept. The seed prompt is the
eval's rubric as written, asked for the people's labels instead of a 1-5 score.
"""

from __future__ import annotations

import random
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from honed.errors import ConfigError
from honed.evals.judge import SYSTEM, format_inputs
from honed.lifecycle.judges.ratings import MAX_LABELS, Labelled, Scale
from honed.task.checks import prompt_fields
from honed.task.eval_specs import LlmJudge
from honed.task.task import ModelConfig, Task
from honed.task.template import render, variables
from honed.types import Example, content_hash

MIN_LABELS = 10
HUMAN = "human"  # the judge task's answer field
TARGET = "{human}"
AGREES = "honed.evals.judge:agrees"
MAX_TOKENS = 200  # as the rubric judge (LlmJudgeScorer.max_tokens)
_SPACES = re.compile(r"\s+")


def escape(text: str) -> str:
    """Text as a template that renders to itself (braces doubled)."""
    return text.replace("{", "{{").replace("}", "}}")


def seed_prompt(rubric: str, scale: Scale, *, reference: bool,
                constrained: bool) -> tuple[str, str]:
    """(system, user) of the judge as written: the eval's rubric, asked for a label."""
    system = f"{SYSTEM}\n\nRUBRIC:\n{escape(rubric.strip())}"
    sections = ["INPUT:\n{input}"]
    if reference:
        sections.append("REFERENCE ANSWER (for comparison):\n{reference}")
    sections.append("OUTPUT:\n{output}")
    choices = ", ".join(escape(label) for label in scale.labels)
    if constrained:
        ask = f"Grade the OUTPUT against the RUBRIC. Answer with only one of: {choices}."
    else:
        ask = (f"Grade the OUTPUT against the RUBRIC. On the first line write only one of: "
               f"{choices}. On the second line write REASON: <one sentence>.")
    return system, "\n\n".join([*sections, ask])


@dataclass(frozen=True)
class JudgeRows:
    """The judge task's rows per split (``id``, ``input``, ``output``, ``human``, optional
    ``reference`` and ``comment``) and warnings about the labels."""

    train: list[dict[str, Any]]
    val: list[dict[str, Any]]
    test: list[dict[str, Any]]
    warnings: list[str]

    @property
    def all(self) -> list[dict[str, Any]]:
        return [*self.train, *self.val, *self.test]


def check_labels(humans: Sequence[str], source: str) -> list[str]:
    """Refuse what cannot be aligned (too few labels, one class, a continuous score); warn
    about imbalance."""
    counts = Counter(humans)
    if len(humans) < MIN_LABELS:
        raise ConfigError(f"{len(humans)} labels are too few to align a judge (at least "
                          f"{MIN_LABELS}: some to learn from, some held out to measure it)",
                          file=source, fix="label more outputs")
    if len(counts) < 2:
        raise ConfigError(f"every label is {humans[0]!r}: agreement cannot be measured on one "
                          "class", file=source, fix="label outputs of both kinds (good and bad)")
    if len(counts) > MAX_LABELS:
        raise ConfigError(f"{len(counts)} distinct labels: a continuous score is not a label "
                          "scale", file=source, fix=f"bin the scores into at most {MAX_LABELS} "
                                                    "levels (say 1-5)")
    label, top = counts.most_common()[0]
    rare, low = counts.most_common()[-1]
    if top / len(humans) > 0.8 or low < 3:
        return [f"labels are imbalanced: {top} of {len(humans)} are {label!r}, {low} "
                f"{rare!r}; kappa is unstable and accuracy flatters a judge that always says "
                f"{label!r}: label more {rare!r} outputs"]
    return []


def _input_text(value: str | Mapping[str, Any], fields: Sequence[str], hidden: set[str]) -> str:
    """What the judge sees as the input, formatted as the rubric judge formats a task's
    example (``field: value`` lines of the fields the task's prompt uses)."""
    if isinstance(value, str):
        return f"{fields[0]}: {value}" if len(fields) == 1 else value
    example = Example("row", dict(value))
    names = [f for f in fields if f in value] or [f for f in value if f not in hidden]
    return format_inputs(example, names)


def _reference(item: Labelled, spec: LlmJudge) -> str:
    if item.reference is not None:
        return item.reference
    if spec.expected and isinstance(item.input, Mapping):
        try:
            return render(spec.expected, item.input)
        except KeyError:
            pass
    return "(not given)"


def judge_rows(items: Sequence[Labelled], labels: Sequence[str], task: Task, spec: LlmJudge,
               ) -> list[dict[str, Any]]:
    """One row of the judge task per labelled output (``labels``: the person's, in order)."""
    fields = prompt_fields(task)
    hidden = set(variables(spec.expected)) if spec.expected else set()
    rows = []
    for item, label in zip(items, labels, strict=True):
        row = {"id": item.id, "input": _input_text(item.input, fields, hidden),
               "output": item.output, HUMAN: label}
        if spec.expected:
            row["reference"] = _reference(item, spec)
        if item.comment:
            row["comment"] = item.comment
        rows.append(row)
    return rows


def item_key(row: Mapping[str, Any]) -> str:
    def norm(text: str) -> str:
        return _SPACES.sub(" ", str(text)).strip().casefold()

    return content_hash([norm(row["input"]), norm(row["output"])])


def _take(m: int, fraction: float) -> int:
    return 0 if m < 2 else min(m - 1, max(1, round(m * fraction)))


def split_rows(rows: Sequence[dict[str, Any]], *, test: float, val: float, seed: int,
               source: str) -> tuple[list[dict[str, Any]], ...]:
    """(train, val, test): items (same input and output) kept together, each label's items
    shuffled with ``seed`` and cut by ``test`` then ``val`` (of the rest); rows keep their
    order within a split."""
    items: dict[str, list[int]] = {}
    for index, row in enumerate(rows):
        items.setdefault(item_key(row), []).append(index)
    by_label: dict[str, list[str]] = {}
    for key, members in items.items():
        label = Counter(rows[i][HUMAN] for i in members).most_common(1)[0][0]
        by_label.setdefault(label, []).append(key)
    rng = random.Random(seed)
    chosen: dict[str, set[str]] = {"test": set(), "val": set()}
    for label in sorted(by_label):
        keys = by_label[label]
        rng.shuffle(keys)
        t = _take(len(keys), test)
        v = _take(len(keys) - t, val)
        chosen["test"].update(keys[:t])
        chosen["val"].update(keys[t:t + v])
    side = {i: name for name, keys in chosen.items() for k in keys for i in items[k]}
    parts = tuple([rows[i] for i in range(len(rows)) if side.get(i, "train") == name]
                  for name in ("train", "val", "test"))
    if not all(parts):
        raise ConfigError(f"{len(rows)} labels leave a split empty (train {len(parts[0])}, "
                          f"val {len(parts[1])}, test {len(parts[2])})", file=source,
                          fix="label more outputs of each kind")
    return parts


def build_rows(items: Sequence[Labelled], labels: Sequence[str], task: Task, spec: LlmJudge, *,
               test: float, val: float, seed: int, source: str) -> JudgeRows:
    warnings = check_labels(labels, source)
    rows = judge_rows(items, labels, task, spec)
    train, val_rows, test_rows = split_rows(rows, test=test, val=val, seed=seed, source=source)
    return JudgeRows(train, val_rows, test_rows, warnings)


def judge_model(task: Task, spec: LlmJudge) -> ModelConfig:
    """The model the eval's judge runs on (its ``model``, else the task's judge model, else the
    task's model), at temperature 0 as the rubric judge calls it."""
    base = task.judge_model or task.model
    update: dict[str, Any] = {"temperature": 0.0, "max_tokens": MAX_TOKENS}
    if spec.model is not None:
        update["spec"] = spec.model
    return base.model_copy(update=update)


def judge_task(name: str, model: ModelConfig, prompt: Mapping[str, Any], rows: JudgeRows,
               scale: Scale, *, constrained: bool, base_dir: Path, source: str) -> Task:
    """The judge as a task (``prompt``: system, user and demos)."""
    config = {"labels": list(scale.labels), "numeric": scale.judge.numeric,
              "ordinal": scale.ordinal, "field": HUMAN}
    task = Task.model_validate({
        "name": name, "model": model.model_dump(), "prompt": dict(prompt),
        "data": {"train": rows.train, "val": rows.val, "test": rows.test, "id_field": "id"},
        "evals": [{"type": "python", "name": "agreement", "function": AGREES,
                   "config": config}],
        "output": {"choices": list(scale.labels)} if constrained else None,
        "target": TARGET, "tracking": "none"})
    return task.bind(base_dir, source)
