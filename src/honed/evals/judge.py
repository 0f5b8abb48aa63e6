"""``llm_judge``: a model grades each output against a rubric on a 1-5 scale.

The judge model is passed in explicitly (the engine wraps it, so its calls are cached, retried
and counted against the budget). The judge answers ``SCORE: <1-5>`` and ``REASON: <one line>``;
the score maps to ``(s - 1) / 4``. A reply without a score raises ``ValueError``, which the engine
records as that example's error rather than a silent 0.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from typing import Any

from honed.evals.base import EvalContext, EvalResult
from honed.evals.builtin import reference
from honed.evals.normalize import clip, shorten
from honed.providers.base import Model, Request
from honed.task.eval_specs import LlmJudge, eval_name
from honed.task.template import variables
from honed.types import Example, Message

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


def parse_reason(text: str) -> str:
    """The text after REASON, else the first line that is not the score line."""
    match = _REASON.search(text)
    if match:
        reason = match.group(1)
    else:
        lines = [ln for ln in text.splitlines() if ln.strip() and not _SCORE.search(ln)]
        reason = lines[0] if lines else text
    return shorten(reason.strip().strip("*").strip(), MAX_REASON)


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
        messages = (Message("system", SYSTEM), Message("user", self.prompt(ctx)))
        return Request(messages, temperature=0.0, max_tokens=self.max_tokens)

    async def score(self, ctx: EvalContext) -> EvalResult:
        completion = await self.model.complete(self.request(ctx))
        grade = parse_score(completion.text)
        value = (grade - 1) / 4
        passed = value >= self.spec.threshold
        labels: Mapping[str, str] = {"judge_score": str(grade)}
        if not passed:
            labels = {**labels, "category": "judge_low"}
        return EvalResult(value, passed, parse_reason(completion.text), labels)
