"""``llm_judge``: a model grades each output against a rubric on a 1-5 scale.

The judge model is passed in explicitly (the engine wraps it, so its calls are cached, retried
and counted against the budget). The judge answers ``SCORE: <1-5>`` and ``REASON: <one line>``;
the score maps to ``(s - 1) / 4``. A reply without a score raises ``ValueError``, which the engine
records as that example's error rather than a silent 0.

A judge registered by ``honed judge align`` is used by reference: ``prompt: NAME@ALIAS`` in the
eval. The lifecycle resolves the reference into a ``ResolvedJudge`` (the eval plus the version's
``JudgePrompt``: its prompt, its demos and its label scale) before the engine builds scorers, since
this layer cannot open the registry. The judge then answers with one of the scale's labels (first
line) and a reason; the label maps to [0, 1] along the scale, low to high.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import ConfigDict, Field

from honed.errors import ConfigError
from honed.evals.base import EvalContext, EvalResult
from honed.evals.builtin import reference
from honed.evals.normalize import clip, first_line, shorten
from honed.providers.base import Model, OutputSpec, Request
from honed.task.eval_specs import LlmJudge, eval_name
from honed.task.render import render_messages
from honed.task.template import variables
from honed.types import Candidate, Example, Message

SYSTEM = ("You are a strict, impartial grader. You grade one output of an AI system against a "
          "rubric and answer in the exact format you are asked for.")
INSTRUCTIONS = """Grade the OUTPUT against the RUBRIC on a scale from 1 (fails the rubric) to 5 \
(fully meets it). Reply with exactly two lines and nothing else:
SCORE: <an integer from 1 to 5>
REASON: <one sentence: what is wrong or missing, or why it is good>"""

_SCALE = re.compile(r"\(?\b1\s*(?:-|–|to)\s*5\b\)?|\s*/\s*5\b|\s*out of 5\b", re.IGNORECASE)
_SCORE = re.compile(r"\bscore\b\W{0,4}?(\d+)", re.IGNORECASE)
_DIGIT = re.compile(r"(?<![\d.])([1-5])(?![\d])")
_REASON = re.compile(r"\breason\b\W*(.+)", re.IGNORECASE)
MAX_REASON = 300


def _show(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, default=str)


def format_inputs(example: Example, fields: Sequence[str] | None) -> str:
    names = [f for f in fields if f in example.fields] if fields else list(example.fields)
    return "\n".join(f"{name}: {_show(example.fields[name])}" for name in names) or "(none)"


def parse_score(text: str) -> int:
    """The integer after SCORE, else the first standalone digit 1-5 anywhere.

    A reply with no score, or whose SCORE is off the 1-5 scale, raises ``ValueError``.
    """
    cleaned = _SCALE.sub(" ", text)
    match = _SCORE.search(cleaned)
    if match and 1 <= int(match.group(1)) <= 5:
        return int(match.group(1))
    if match:
        raise ValueError(f"judge reply has no 1-5 score (SCORE {match.group(1)} is off the "
                         f"scale): {clip(text)}")
    digit = _DIGIT.search(cleaned)
    if digit:
        return int(digit.group(1))
    raise ValueError(f"judge reply has no 1-5 score: {clip(text)}")


def stated_reason(text: str) -> str:
    """The text after REASON, or "" when the reply gives none."""
    return parse_reason(text) if _REASON.search(text) else ""


def parse_reason(text: str) -> str:
    """The text after REASON, else the first line that is not the score line."""
    match = _REASON.search(text)
    if match:
        reason = match.group(1)
    else:
        lines = [ln for ln in text.splitlines() if ln.strip() and not _SCORE.search(ln)]
        reason = lines[0] if lines else text
    return shorten(reason.strip().strip("*").strip(), MAX_REASON)


# a judge's label scale -------------------------------------------------------------------------
_NUMBER = re.compile(r"-?\d+(?:\.\d+)?")
_PREFIX = re.compile(r"^\W*(?:label|grade|score|verdict|answer|rating)\b\W*", re.IGNORECASE)
_LABEL_LINE = re.compile(r"^\W*(?:label|grade|score|verdict|answer|rating)\b\W*(.+)$",
                         re.IGNORECASE | re.MULTILINE)


def number_label(value: Any) -> str:
    """The canonical text of a number on a scale: ``4`` for 4.0, ``0.5`` for 0.5."""
    number = float(value)
    return str(int(number)) if number.is_integer() else repr(number)


@dataclass(frozen=True)
class JudgeScale:
    """The labels a judge answers with, low to high (numbers on a numeric scale)."""

    labels: tuple[str, ...]
    numeric: bool = False

    def value(self, label: str) -> float:
        """Where ``label`` sits on the scale, in [0, 1]: by value on a numeric scale, else by
        position."""
        if self.numeric:
            values = [float(x) for x in self.labels]
            low, high = min(values), max(values)
            return (float(label) - low) / (high - low) if high > low else 1.0
        index = self.labels.index(label)
        return index / (len(self.labels) - 1) if len(self.labels) > 1 else 1.0

    def parse(self, text: str) -> str | None:
        """The label a reply gives: its first line (a ``LABEL:``-style prefix dropped), else a
        ``LABEL: x`` line anywhere; None when neither names exactly one of the labels."""
        head = _PREFIX.sub("", first_line(text).strip().strip("*#`'\" ")).strip()
        found = self._find(head)
        if found is None:
            for match in _LABEL_LINE.finditer(text):
                found = found or self._find(match.group(1).strip())
        return found

    def _find(self, text: str) -> str | None:
        if self.numeric:
            for token in _NUMBER.findall(text):
                label = number_label(token)
                if label in self.labels:
                    return label
            return None
        folded = text.casefold().strip(" .!:;,*\"'")
        exact = [x for x in self.labels if x.casefold() == folded]
        if exact:
            return exact[0]
        hits = []  # (where, longest first, label) of each label named as a word
        for label in self.labels:
            word = re.search(rf"(?<!\w){re.escape(label.casefold())}(?!\w)", text.casefold())
            if word is not None:
                hits.append((word.start(), -len(label), label))
        return min(hits)[2] if hits else None


def agrees(output: str, example: Mapping[str, Any], config: Mapping[str, Any]) -> EvalResult:
    """A ``python`` eval for a judge's own task (``honed judge align``): does the judge's label
    match the person's? ``config``: ``labels`` (low to high), ``numeric``, ``ordinal`` (partial
    credit by distance on the scale) and ``field`` (the example field with the person's label;
    ``example`` is the example's fields). An answer without a label scores 0 (category
    ``unparsed``)."""
    scale = JudgeScale(tuple(config["labels"]), bool(config.get("numeric")))
    human = str(example[config.get("field", "human")])
    got = scale.parse(output)
    if got is None:
        return EvalResult(0.0, False, f"no label ({', '.join(scale.labels)}) in the judge's "
                          f"answer {clip(output)}; a person said {human}",
                          {"category": "unparsed"})
    if got == human:
        return EvalResult(1.0, True, f"agrees with the person: {human}")
    score = 0.0
    if config.get("ordinal") and len(scale.labels) > 2:
        steps = len(scale.labels) - 1
        score = 1.0 - abs(scale.labels.index(got) - scale.labels.index(human)) / steps
    note = example.get("comment")
    why = f" (their note: {shorten(str(note), 160)})" if note else ""
    reason = stated_reason(output) or "(none given)"
    return EvalResult(score, False, f"the judge said {got}, a person said {human}{why}; the "
                      f"judge's reason: {reason}", {"category": "disagrees"})


@dataclass(frozen=True)
class JudgePrompt:
    """A registered judge: its prompt (``system``/``user`` templates over ``input``, ``output``
    and ``reference``), its demos (rows with the answer in ``target``) and its scale."""

    ref: str  # NAME/VERSION it was loaded from
    candidate: Candidate
    scale: JudgeScale
    demos: Mapping[str, Example] = field(default_factory=dict)
    target: str = "{human}"
    constrained: bool = False  # the answer is decoded as exactly one label (no reason)


class ResolvedJudge(LlmJudge):
    """An ``llm_judge`` eval whose ``prompt:`` reference has been loaded from the registry."""

    model_config = ConfigDict(extra="forbid", frozen=True, arbitrary_types_allowed=True)
    registered: JudgePrompt = Field(exclude=True)


def resolved(spec: LlmJudge, judge: JudgePrompt) -> ResolvedJudge:
    """``spec`` with its registered judge attached."""
    return ResolvedJudge(**spec.model_dump(), registered=judge)


class LlmJudgeScorer:
    """Asks ``model`` to grade the output against ``spec.rubric`` at temperature 0.

    ``input_fields`` are the example fields shown to the judge as the input (by default, all but
    those the reference template uses).
    """

    max_tokens = 200

    def __init__(self, spec: LlmJudge, model: Model,
                 input_fields: Sequence[str] | None = None) -> None:
        self.name, self.weight, self.spec, self.model = eval_name(spec), spec.weight, spec, model
        self.input_fields = list(input_fields) if input_fields else None
        self.hidden = set(variables(spec.expected)) if spec.expected else set()
        self.registered: JudgePrompt | None = getattr(spec, "registered", None)
        if spec.prompt is not None and self.registered is None:
            raise ConfigError(f"eval {self.name!r} uses the registered judge {spec.prompt!r}, "
                              "which was not loaded", field="prompt",
                              fix="run it through honed eval or honed optimize, or load it "
                                  "with honed.lifecycle.judges.reference.resolve_judges")

    def _inputs(self, example: Example) -> str:
        fields = self.input_fields or [f for f in example.fields if f not in self.hidden]
        return format_inputs(example, fields)

    def prompt(self, ctx: EvalContext) -> str:
        sections = [("RUBRIC", self.spec.rubric.strip()), ("INPUT", self._inputs(ctx.example))]
        if self.spec.expected:
            sections.append(("REFERENCE ANSWER (for comparison)",
                             reference(self.spec.expected, ctx.example)))
        sections.append(("OUTPUT", ctx.output))
        body = "\n\n".join(f"{title}:\n{text}" for title, text in sections)
        return f"{body}\n\n{INSTRUCTIONS}"

    def request(self, ctx: EvalContext) -> Request:
        if self.registered is not None:
            return self._registered_request(self.registered, ctx)
        messages = (Message("system", SYSTEM), Message("user", self.prompt(ctx)))
        return Request(messages, temperature=0.0, max_tokens=self.max_tokens)

    def _registered_request(self, judge: JudgePrompt, ctx: EvalContext) -> Request:
        fields = {"input": self._inputs(ctx.example), "output": ctx.output,
                  "reference": (reference(self.spec.expected, ctx.example)
                                if self.spec.expected else "")}
        messages = render_messages(judge.candidate, Example("judged", fields), judge.demos,
                                   judge.target)
        output = OutputSpec(judge.scale.labels) if judge.constrained else OutputSpec()
        return Request(messages, temperature=0.0, max_tokens=self.max_tokens, output=output)

    def _graded(self, judge: JudgePrompt, text: str) -> EvalResult:
        label = judge.scale.parse(text)
        if label is None:
            raise ValueError(f"judge reply names none of {', '.join(judge.scale.labels)}: "
                             f"{clip(text)}")
        value = judge.scale.value(label)
        passed = value >= self.spec.threshold
        labels: Mapping[str, str] = {"judge_label": label}
        if not passed:
            labels = {**labels, "category": "judge_low"}
        return EvalResult(value, passed, stated_reason(text) or f"judge: {label}", labels)

    async def score(self, ctx: EvalContext) -> EvalResult:
        completion = await self.model.complete(self.request(ctx))
        if self.registered is not None:
            return self._graded(self.registered, completion.text)
        grade = parse_score(completion.text)
        value = (grade - 1) / 4
        passed = value >= self.spec.threshold
        labels: Mapping[str, str] = {"judge_score": str(grade)}
        if not passed:
            labels = {**labels, "category": "judge_low"}
        return EvalResult(value, passed, parse_reason(completion.text), labels)
