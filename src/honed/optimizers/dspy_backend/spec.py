"""The task as one DSPy predictor: its signature and spec; DSPy's result as a honed candidate."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from honed.errors import ConfigError
from honed.task.task import Task
from honed.task.template import render, variables
from honed.types import Candidate, Example, Message, canonical_json

ID_FIELD = "honed_example_id"  # carried by every dspy.Example, so the metric finds honed's example


# --- the task as a DSPy signature -----------------------------------------------------------
class _Lenient(dict[str, Any]):
    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


@dataclass(frozen=True)
class _Spec:
    """How the task maps onto one DSPy predictor, and back."""

    inputs: tuple[str, ...]
    output: str
    user: str
    target: str
    instructions: str  # the seed's system prompt, or DSPy's default when it has none
    default: str       # DSPy's default instructions: rendered as "no system message"

    def system(self, instructions: str) -> str:
        return "" if instructions == self.default else instructions

    def messages(self, instructions: str, demos: Sequence[Any],
                 inputs: Mapping[str, Any]) -> list[Message]:
        """The messages honed's engine renders for the same candidate and example."""
        out: list[Message] = []
        system = self.system(instructions)
        if system.strip():
            out.append(Message("system", render(system, _Lenient(inputs))))
        for demo in demos:
            data = _as_dict(demo)
            out.append(Message("user", render(self.user, _Lenient(data))))
            out.append(Message("assistant", str(data.get(self.output, ""))))
        out.append(Message("user", render(self.user, _Lenient(inputs))))
        return out

    def target_of(self, example: Example) -> str:
        try:
            return render(self.target, example.fields)
        except KeyError:
            return ""

    def key(self, data: Mapping[str, Any]) -> str:
        return canonical_json([_text(data.get(name)) for name in self.inputs])

    def example(self, dspy: Any, ex: Example) -> Any:
        values = {name: _text(ex.get(name)) for name in self.inputs}
        return dspy.Example(**values, **{self.output: self.target_of(ex), ID_FIELD: ex.id}
                            ).with_inputs(*self.inputs)


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def _as_dict(demo: Any) -> dict[str, Any]:
    return dict(demo.toDict()) if hasattr(demo, "toDict") else dict(demo)


def build_spec(dspy: Any, task: Task, seed: Candidate) -> tuple[_Spec, Any]:
    """The task's DSPy spec and signature (instructions = the seed's system prompt)."""
    target = task.target_template()
    inputs = tuple(dict.fromkeys(variables(seed.user) + variables(seed.system)))
    names = variables(target)
    output = names[0] if len(names) == 1 and target.strip() == "{" + names[0] + "}" else "answer"
    while output in inputs or output == ID_FIELD:
        output += "_"
    fields = {name: (str, dspy.InputField()) for name in inputs}
    fields[output] = (str, dspy.OutputField())
    try:
        default = dspy.Signature(dict(fields)).instructions
        signature = dspy.Signature(dict(fields), seed.system or default)
    except Exception as exc:
        raise ConfigError(f"the task does not fit a DSPy signature: {exc}", field="prompt",
                          fix="rename placeholders that clash with DSPy's names") from None
    spec = _Spec(inputs, output, seed.user, target, signature.instructions, default)
    return spec, signature


def to_candidate(spec: _Spec, seed: Candidate, instructions: str, demos: Sequence[Any],
                 train: Sequence[Example]) -> tuple[Candidate, list[str]]:
    """DSPy's instructions and demos as a honed candidate; demos become train example ids."""
    by_id = {ex.id: ex for ex in train}
    by_inputs: dict[str, str] = {}
    for ex in train:
        by_inputs.setdefault(spec.key({n: ex.get(n) for n in spec.inputs}), ex.id)
    ids: list[str] = []
    dropped = replaced = 0
    for demo in demos:
        data = _as_dict(demo)
        found = data.get(ID_FIELD)
        if found not in by_id:
            found = by_inputs.get(spec.key(data))
        if found is None:
            dropped += 1
            continue
        if found in ids:
            continue
        if _text(data.get(spec.output)).strip() != spec.target_of(by_id[found]).strip():
            replaced += 1
        ids.append(found)
    system = (seed.system if instructions == spec.instructions
              else _escape_unknown(spec.system(instructions), set(spec.inputs)))
    notes = [f"{'new' if system != seed.system else 'seed'} instruction, {len(ids)} demos"]
    if dropped:
        notes.append(f"{dropped} demo(s) dropped: their inputs match no train example")
    if replaced:
        notes.append(f"{replaced} bootstrapped demo answer(s) shown as the train reference")
    return Candidate({**seed.components, "system": system}, tuple(ids)), notes


_PLACEHOLDER = re.compile(r"\{\{|\}\}|\{([A-Za-z_][A-Za-z0-9_]*)\}")


def _escape_unknown(text: str, known: set[str]) -> str:
    """``{word}`` that names no input field was literal text to DSPy: keep it literal (honed would
    fill it from the example, e.g. with the reference answer)."""
    def sub(match: re.Match[str]) -> str:
        name = match.group(1)
        return "{{" + name + "}}" if name and name not in known else match.group(0)

    return _PLACEHOLDER.sub(sub, text)
