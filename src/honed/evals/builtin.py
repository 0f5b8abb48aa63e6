"""Deterministic built-in scorers: labels, substrings, regex, JSON, numbers and budgets.

Each scorer is built from its spec (``honed.task.eval_specs``) and returns an ``EvalResult`` whose
feedback says what was expected, what came out and, for failures, a ``category`` label.

This module is where callers import every built-in scorer from. The JSON and number scorers live
in ``honed.evals.structured`` and the shared base (``SpecScorer``, ``reference``, ``empty``) in
``honed.evals.spec_scorer``; both are re-exported here.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from honed.errors import ConfigError
from honed.evals.base import EvalContext, EvalResult
from honed.evals.normalize import clip, closest, diff, normalize
from honed.evals.spec_scorer import SpecLike, SpecScorer, empty, reference
from honed.evals.structured import (
    JsonSchemaScorer,
    JsonValidScorer,
    NumericScorer,
    numbers_in,
    parse_json,
    parse_number,
)
from honed.task.eval_specs import (
    Contains,
    Cost,
    ExactMatch,
    Latency,
    Length,
    Normalize,
    OneOf,
    Regex,
)

__all__ = [
    "ContainsScorer",
    "CostScorer",
    "ExactMatchScorer",
    "JsonSchemaScorer",
    "JsonValidScorer",
    "LatencyScorer",
    "LengthScorer",
    "NumericScorer",
    "OneOfScorer",
    "RegexScorer",
    "SpecLike",
    "SpecScorer",
    "empty",
    "numbers_in",
    "parse_json",
    "parse_number",
    "reference",
]


# --- labels -----------------------------------------------------------------------------------


def _label_hint(got: str, allowed: Sequence[str]) -> str:
    """Why an output that is not a label failed: extra text around a label, or a near miss."""
    inside = [a for a in allowed if a and re.search(rf"(?<!\w){re.escape(a)}(?!\w)", got)]
    if len(inside) == 1:
        return f"; it contains the label {inside[0]!r} plus extra text: answer with the label alone"
    near = closest(got, list(allowed))
    return f"; closest label {near!r}" if near else ""


def _labels_text(allowed: Sequence[str]) -> str:
    shown = ", ".join(repr(a) for a in allowed[:20])
    return f"[{shown}{', …' if len(allowed) > 20 else ''}]"


class ExactMatchScorer(SpecScorer):
    """Output equals the rendered reference after normalization.

    With ``choices`` (the task's label set), an output that is no label at all fails as
    ``format``; a wrong label fails as ``wrong_label``; otherwise a miss is ``wrong_answer``.
    """

    def __init__(self, spec: ExactMatch, choices: Sequence[str] | None = None) -> None:
        super().__init__(spec)
        self.spec = spec
        self.choices = list(choices or [])

    def check(self, ctx: EvalContext) -> EvalResult:
        expected = reference(self.spec.expected, ctx.example)
        got, want = normalize(ctx.output, self.spec.normalize), normalize(expected,
                                                                           self.spec.normalize)
        if got == want:
            return EvalResult.of(True, f"matched {clip(expected)}")
        if not got:
            return empty(expected)
        allowed = [normalize(c, self.spec.normalize) for c in self.choices]
        said = f"expected {clip(expected)}, got {clip(ctx.output)}"
        if allowed and got not in allowed:
            return EvalResult.of(False, f"{said}, which is not one of the labels "
                                 f"{_labels_text(self.choices)}{_label_hint(got, allowed)}",
                                 "format")
        if allowed:
            return EvalResult.of(False, said, "wrong_label")
        return EvalResult.of(False, f"{said}; diff: {diff(want, got)}", "wrong_answer")


class OneOfScorer(SpecScorer):
    """Output (normalized) is one of ``values``; anything else fails as ``format``."""

    def __init__(self, spec: OneOf, values: Sequence[str]) -> None:
        super().__init__(spec)
        self.norm: Normalize = spec.normalize
        self.values = list(values)
        self.allowed = [normalize(v, self.norm) for v in self.values]

    def check(self, ctx: EvalContext) -> EvalResult:
        got = normalize(ctx.output, self.norm)
        if got in self.allowed:
            return EvalResult.of(True, f"{clip(ctx.output)} is an allowed value")
        if not got:
            return empty()
        return EvalResult.of(False, f"output {clip(ctx.output)} is not one of "
                             f"{_labels_text(self.values)}{_label_hint(got, self.allowed)}",
                             "format")


# --- text -------------------------------------------------------------------------------------


def _context(text: str, needle: str, width: int = 40) -> str:
    at = text.find(needle)
    start, end = max(0, at - width), at + len(needle) + width
    return ("…" if start else "") + text[start:end] + ("…" if end < len(text) else "")


class ContainsScorer(SpecScorer):
    """``contains``: the values appear in the output; ``not_contains``: they do not.

    ``mode: all`` needs every value to satisfy the check (score = the fraction that do);
    ``mode: any`` needs one. Values are templates over the example's fields.
    """

    def __init__(self, spec: Contains) -> None:
        super().__init__(spec)
        self.spec = spec
        self.negate = spec.type == "not_contains"
        self.templates = [spec.value] if isinstance(spec.value, str) else list(spec.value)
        if not self.templates:
            raise ConfigError("no values to look for", field="value",
                              fix="give a text or a non-empty list of texts")

    def _fold(self, text: str) -> str:
        return text.casefold() if self.spec.ignore_case else text

    def check(self, ctx: EvalContext) -> EvalResult:
        values = [reference(t, ctx.example) for t in self.templates]
        output = self._fold(ctx.output)
        found = [self._fold(v) in output for v in values]
        ok = [f != self.negate for f in found]
        if self.spec.mode == "all":
            passed, score = all(ok), sum(ok) / len(ok)
        else:
            passed = any(ok)
            score = float(passed)
        if passed:
            return EvalResult(score, True, "")
        bad = [v for v, good in zip(values, ok, strict=True) if not good]
        return EvalResult(score, False, self._feedback(bad, ctx.output, output),
                          {"category": "forbidden_text" if self.negate else "missing_text"})

    def _feedback(self, bad: list[str], raw: str, folded: str) -> str:
        names = ", ".join(repr(v) for v in bad)
        if not self.negate:
            lead = "missing" if self.spec.mode == "all" else "none of these appears:"
            return f"{lead} {names} in output {clip(raw)}"
        first = self._fold(bad[0])
        where = _context(folded, first) if first else ""
        lead = "forbidden text" if self.spec.mode == "all" else "every forbidden text appears:"
        return f"{lead} {names} in output, e.g. {clip(where)}"


class RegexScorer(SpecScorer):
    """The output matches ``pattern`` (searched, or full-matched against the stripped output)."""

    def __init__(self, spec: Regex) -> None:
        super().__init__(spec)
        self.fullmatch = spec.fullmatch
        try:
            self.pattern = re.compile(spec.pattern, re.IGNORECASE if spec.ignore_case else 0)
        except re.error as exc:
            raise ConfigError(f"invalid regular expression {spec.pattern!r}: {exc}",
                              field="pattern", fix="fix the pattern (Python `re` syntax)") from None

    def check(self, ctx: EvalContext) -> EvalResult:
        if self.fullmatch:
            hit = self.pattern.fullmatch(ctx.output.strip())
        else:
            hit = self.pattern.search(ctx.output)
        if hit:
            return EvalResult.of(True, f"matched {clip(hit.group(0))}")
        how = "fully match" if self.fullmatch else "match"
        return EvalResult.of(False, f"output does not {how} /{self.pattern.pattern}/: "
                             f"{clip(ctx.output)}", "format")


# --- budgets ----------------------------------------------------------------------------------


class _AtMost(SpecScorer):
    """One per-call measurement at most a limit; subclasses say which and how to show it."""

    what, category = "", ""
    limit: float

    def measure(self, ctx: EvalContext) -> float:
        raise NotImplementedError

    def show(self, value: float) -> str:
        return f"{value:.3g}"

    def check(self, ctx: EvalContext) -> EvalResult:
        value = self.measure(ctx)
        got, limit = self.show(value), self.show(self.limit)
        if value <= self.limit:
            return EvalResult.of(True, f"{self.what} {got} <= {limit}")
        return EvalResult.of(False, f"{self.what} {got} exceeds the max {limit}", self.category)


class CostScorer(_AtMost):
    """The call cost at most ``max_usd``."""

    what, category = "cost", "over_budget"

    def __init__(self, spec: Cost) -> None:
        super().__init__(spec)
        self.limit = spec.max_usd

    def measure(self, ctx: EvalContext) -> float:
        return ctx.cost_usd

    def show(self, value: float) -> str:
        return f"${value:.6g}"


class LatencyScorer(_AtMost):
    """The call took at most ``max_s`` seconds."""

    what, category = "latency", "too_slow"

    def __init__(self, spec: Latency) -> None:
        super().__init__(spec)
        self.limit = spec.max_s

    def measure(self, ctx: EvalContext) -> float:
        return ctx.latency_s

    def show(self, value: float) -> str:
        return f"{value:.3g}s"


class LengthScorer(SpecScorer):
    """Characters (of the stripped output), words and output tokens within the limits."""

    def __init__(self, spec: Length) -> None:
        super().__init__(spec)
        self.spec = spec

    def _violations(self, ctx: EvalContext) -> list[tuple[str, str]]:
        spec, text = self.spec, ctx.output.strip()
        chars, words, tokens = len(text), len(text.split()), ctx.usage.output_tokens
        found: list[tuple[str, str]] = []
        if spec.min_chars is not None and chars < spec.min_chars:
            found.append(("too_short", f"{chars} chars < min {spec.min_chars}"))
        if spec.max_chars is not None and chars > spec.max_chars:
            found.append(("too_long", f"{chars} chars > max {spec.max_chars}"))
        if spec.max_words is not None and words > spec.max_words:
            found.append(("too_long", f"{words} words > max {spec.max_words}"))
        if spec.max_tokens is not None and tokens > spec.max_tokens:
            found.append(("too_long", f"{tokens} output tokens > max {spec.max_tokens}"))
        return found

    def check(self, ctx: EvalContext) -> EvalResult:
        found = self._violations(ctx)
        if not found:
            return EvalResult.of(True, "length within limits")
        detail = "; ".join(msg for _, msg in found)
        return EvalResult.of(False, f"{detail}; output {clip(ctx.output)}", found[0][0])
