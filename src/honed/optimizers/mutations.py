"""Offline prompt operators: deterministic, data-derived mutations of a candidate's text.

No model writes these prompts. Each operator reads ``TaskFacts`` (the label set, one short train
example per label, the input placeholders, a role derived from the task) and returns children of a
candidate, each tagged ``meta={"op": ...}``. The operators target what helps small models: an
explicit label set, "answer with only the label", label definitions, delimiters around the input,
and structural edits (drop, reorder, move between system and user).

``mutations`` applies them all, drops duplicates and any child that loses a placeholder.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from honed.task.task import Task
from honed.task.template import render, variables
from honed.types import Candidate, Example

MAX_LABELS = 20  # more distinct expected values than this is free text, not a label set
SNIPPET_CHARS = 60
MAX_DROPS = 8
FORMAT_LABEL = "Answer with only the label, exactly as written."
FORMAT_FREE = "Answer with only the final answer, no explanation."
STEP_BY_STEP = "Think step by step before you answer."


@dataclass(frozen=True)
class TaskFacts:
    """What the operators know about a task, derived once from its config and train split."""

    labels: tuple[str, ...]
    definitions: tuple[tuple[str, str], ...]  # (label, a short train input with that label)
    inputs: tuple[str, ...]  # placeholders of the seed prompt
    topic: str

    @property
    def free_text(self) -> bool:
        return not self.labels


Operator = Callable[[Candidate, TaskFacts], list[Candidate]]


# facts ---------------------------------------------------------------------------------------
def target_of(task: Task, example: Example) -> str | None:
    """The expected answer of an example (the task's target template), None if it can't render
    or the task has no target (e.g. a QA task checked only by ``contains``)."""
    template = task.target_template()
    if template is None:
        return None
    try:
        return render(template, example.fields).strip()
    except KeyError:
        return None


def task_labels(task: Task, train: Sequence[Example]) -> tuple[str, ...]:
    """``output.choices``, else the distinct expected values in train when they are few."""
    if task.output is not None and task.output.choices:
        return tuple(task.output.choices)
    values = [v for v in (target_of(task, ex) for ex in train) if v]
    distinct = sorted(set(values))
    few = len(distinct) <= min(MAX_LABELS, max(2, len(values) // 2))
    return tuple(distinct) if distinct and few else ()


def task_facts(task: Task, train: Sequence[Example]) -> TaskFacts:
    seed = task.seed_candidate()
    inputs = tuple(dict.fromkeys(variables(seed.user) + variables(seed.system)))
    labels = task_labels(task, train)
    return TaskFacts(labels, _definitions(task, train, labels, inputs), inputs, _topic(task))


def _definitions(task: Task, train: Sequence[Example], labels: Sequence[str],
                 inputs: Sequence[str]) -> tuple[tuple[str, str], ...]:
    shortest: dict[str, tuple[int, str, str]] = {}
    for ex in train:
        label = target_of(task, ex)
        if label not in labels or label is None:
            continue
        text = " / ".join(str(ex.get(name, "")) for name in inputs if ex.get(name) is not None)
        key = (len(text), ex.id, text)
        if text and (label not in shortest or key < shortest[label]):
            shortest[label] = key
    return tuple((label, _snippet(shortest[label][2])) for label in labels if label in shortest)


def _snippet(text: str) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= SNIPPET_CHARS else flat[:SNIPPET_CHARS - 3].rstrip() + "..."


def _topic(task: Task) -> str:
    if task.description.strip():
        return task.description.strip().split("\n")[0].rstrip(".")
    words = task.name.replace("_", " ").replace("-", " ").replace(".", " ").strip()
    return words if sum(c.isalpha() for c in words) >= 3 else ""


# helpers -------------------------------------------------------------------------------------
def literal(text: str) -> str:
    """Escape braces so data text is not read as a placeholder."""
    return text.replace("{", "{{").replace("}", "}}")


def _child(parent: Candidate, op: str, **parts: str) -> Candidate:
    return Candidate({**parent.components, **parts}, parent.demos, meta={"op": op})


def _append(text: str, line: str) -> str:
    return f"{text.rstrip()}\n{line}" if text.strip() else line


def _units(text: str) -> tuple[list[str], str]:
    """Lines when the text has several, else sentences; with the joiner that rebuilds it."""
    lines = [line for line in text.split("\n") if line.strip()]
    if len(lines) > 1:
        return lines, "\n"
    sentences: list[str] = []
    for word in text.split():
        if sentences and not sentences[-1].endswith((".", "!", "?")):
            sentences[-1] += " " + word
        else:
            sentences.append(word)
    return sentences, " "


def _mentions_all(candidate: Candidate, labels: Iterable[str]) -> bool:
    text = " ".join(candidate.components.values())
    return all(re.search(rf"(?<!\w){re.escape(label)}(?!\w)", text, re.IGNORECASE)
               for label in labels)


# operators -----------------------------------------------------------------------------------
def label_set(c: Candidate, facts: TaskFacts) -> list[Candidate]:
    if not facts.labels or _mentions_all(c, facts.labels):
        return []
    line = "Possible labels: " + ", ".join(literal(x) for x in facts.labels) + "."
    return [_child(c, "state the label set", system=_append(c.system, line))]


def output_format(c: Candidate, facts: TaskFacts) -> list[Candidate]:
    line = FORMAT_FREE if facts.free_text else FORMAT_LABEL
    if line in c.system or line in c.user:
        return []
    return [_child(c, "add an output-format line", system=_append(c.system, line))]


def label_definitions(c: Candidate, facts: TaskFacts) -> list[Candidate]:
    if not facts.definitions or "Label guide:" in c.system:
        return []
    rows = [f'- {literal(label)}: e.g. "{literal(text)}"' for label, text in facts.definitions]
    block = "\n".join(["Label guide:", *rows])
    return [_child(c, "add label definitions from train", system=_append(c.system, block))]


def role_line(c: Candidate, facts: TaskFacts) -> list[Candidate]:
    kind = "assistant" if facts.free_text else "classifier"
    line = f"You are an expert {kind}"
    line += f" for this task: {literal(facts.topic)}." if facts.topic else "."
    if c.system.startswith("You are"):
        return []
    system = f"{line}\n{c.system}" if c.system.strip() else line
    return [_child(c, "add a role line", system=system)]


def step_by_step(c: Candidate, facts: TaskFacts) -> list[Candidate]:
    if not facts.free_text or STEP_BY_STEP in c.system:
        return []
    return [_child(c, "add a step-by-step line", system=_append(c.system, STEP_BY_STEP))]


def drop_sentence(c: Candidate, facts: TaskFacts) -> list[Candidate]:
    units, joiner = _units(c.system)
    if len(units) < 2:
        return []
    return [_child(c, f"drop sentence {i + 1}", system=joiner.join(units[:i] + units[i + 1:]))
            for i in range(min(len(units), MAX_DROPS))]


def reorder_sentences(c: Candidate, facts: TaskFacts) -> list[Candidate]:
    units, joiner = _units(c.system)
    if len(units) < 2:
        return []
    last_first = [units[-1], *units[:-1]]
    first_last = [*units[1:], units[0]]
    return [_child(c, "move the last sentence first", system=joiner.join(last_first)),
            _child(c, "move the first sentence last", system=joiner.join(first_last))]


def system_to_user(c: Candidate, facts: TaskFacts) -> list[Candidate]:
    if not c.system.strip():
        return []
    return [_child(c, "move the system text into the user message", system="",
                   user=f"{c.system.strip()}\n\n{c.user}")]


def user_to_system(c: Candidate, facts: TaskFacts) -> list[Candidate]:
    """Move the leading placeholder-free lines of the user message into the system prompt."""
    lines = c.user.split("\n")
    head = 0
    while head < len(lines) and not variables(lines[head]):
        head += 1
    moved = "\n".join(lines[:head]).strip()
    if not moved or head == len(lines):
        return []
    system = f"{c.system.rstrip()}\n{moved}" if c.system.strip() else moved
    return [_child(c, "move the user instructions into the system prompt", system=system,
                   user="\n".join(lines[head:]).strip("\n"))]


def delimit_input(c: Candidate, facts: TaskFacts) -> list[Candidate]:
    lines, changed = c.user.split("\n"), False
    for i, line in enumerate(lines):
        names = variables(line)
        if len(names) == 1 and line.strip() == "{" + names[0] + "}":
            title = names[0].replace("_", " ").capitalize()
            lines[i], changed = f'{title}: """{{{names[0]}}}"""', True
    if not changed:
        return []
    return [_child(c, "delimit the input", user="\n".join(lines))]


OPERATORS: tuple[Operator, ...] = (
    label_set, output_format, label_definitions, delimit_input, role_line, step_by_step,
    drop_sentence, reorder_sentences, system_to_user, user_to_system)
# operators that only add text: composed with one another for the Bayesian instruction pool
ADDITIVE: tuple[Operator, ...] = (label_set, output_format, label_definitions, delimit_input,
                                  role_line, step_by_step)


# public --------------------------------------------------------------------------------------
def keeps_placeholders(parent: Candidate, child: Candidate) -> bool:
    """The user message keeps all its placeholders, and none is lost from the prompt."""
    every = {v for text in child.components.values() for v in variables(text)}
    before = {v for text in parent.components.values() for v in variables(text)}
    return set(variables(parent.user)) <= set(variables(child.user)) and before <= every


def mutations(candidate: Candidate, facts: TaskFacts,
              operators: Sequence[Operator] = OPERATORS) -> list[Candidate]:
    """Every operator's children, in operator order, without duplicates or lost placeholders."""
    seen, out = {candidate.id}, []
    for op in operators:
        for child in op(candidate, facts):
            if child.id not in seen and keeps_placeholders(candidate, child):
                seen.add(child.id)
                out.append(child)
    return out


def instruction_pool(seed: Candidate, facts: TaskFacts, limit: int = 24) -> list[Candidate]:
    """Instruction variants (no demos) for a joint search: the seed, the stack of every additive
    operator, each additive operator alone, each pair of them (label set + format, the
    combinations small models need), then the structural mutations."""
    base = Candidate(dict(seed.components), (), meta={"op": "seed"})
    pool, seen = [base], {base.id}
    _add(pool, seen, compose(base, facts, ADDITIVE))
    for op in ADDITIVE:
        _add(pool, seen, compose(base, facts, (op,)))
    for i, first in enumerate(ADDITIVE):
        for second in ADDITIVE[i + 1:]:
            _add(pool, seen, compose(base, facts, (first, second)))
    for child in mutations(base, facts):
        _add(pool, seen, child)
    return pool[:limit]


def compose(candidate: Candidate, facts: TaskFacts,
            operators: Sequence[Operator]) -> Candidate | None:
    """Apply operators in turn (each one's first child); None when none of them applies."""
    current, ops = candidate, []
    for op in operators:
        children = [c for c in op(current, facts) if keeps_placeholders(current, c)]
        if children:
            current = children[0]
            ops.append(describe_op(current))
    if not ops:
        return None
    return Candidate(dict(current.components), current.demos, meta={"op": " + ".join(ops)})


def _add(pool: list[Candidate], seen: set[str], candidate: Candidate | None) -> None:
    if candidate is not None and candidate.id not in seen:
        seen.add(candidate.id)
        pool.append(candidate)


def describe_op(candidate: Candidate) -> str:
    meta: Any = candidate.meta
    return str(meta.get("op", "")) if meta else ""
