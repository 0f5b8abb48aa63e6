"""Built-in scorers of structured output: JSON (valid, against a schema) and numbers.

Like every built-in scorer (``honed.evals.builtin``, which re-exports these), each is built from
its spec and explains a failure in its feedback with a ``category`` label.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

from honed.errors import ConfigError
from honed.evals.base import EvalContext, EvalResult
from honed.evals.normalize import clip, shorten
from honed.evals.spec_scorer import SpecScorer, empty, reference
from honed.task.eval_specs import JsonSchema, JsonValid, Numeric

# --- JSON -------------------------------------------------------------------------------------


def _json_hint(text: str) -> str:
    stripped = text.strip()
    if stripped.startswith("```"):
        return "; the JSON is wrapped in a ``` code fence: output bare JSON"
    start = min((i for i in (stripped.find("{"), stripped.find("[")) if i >= 0), default=-1)
    if start > 0:
        return "; there is text before the JSON: output the JSON alone"
    return ""


def parse_json(text: str) -> tuple[Any, EvalResult | None]:
    """``(value, None)``, or ``(None, failure)`` whose feedback locates the syntax error."""
    if not text.strip():
        return None, empty("JSON")
    try:
        return json.loads(text), None
    except json.JSONDecodeError as exc:
        near = exc.doc[max(0, exc.pos - 20): exc.pos + 20]
        feedback = (f"invalid JSON: {exc.msg} at line {exc.lineno} column {exc.colno} "
                    f"near {clip(near)}{_json_hint(text)}; output {clip(text)}")
        return None, EvalResult.of(False, feedback, "invalid_json")


class JsonValidScorer(SpecScorer):
    """The whole output parses as JSON."""

    def __init__(self, spec: JsonValid) -> None:
        super().__init__(spec)

    def check(self, ctx: EvalContext) -> EvalResult:
        _, failure = parse_json(ctx.output)
        return failure or EvalResult.of(True, "valid JSON")


class JsonSchemaScorer(SpecScorer):
    """The output parses as JSON and validates against ``schema`` (``jsonschema``)."""

    max_errors = 3

    def __init__(self, spec: JsonSchema) -> None:
        super().__init__(spec)
        from jsonschema import validators
        from jsonschema.exceptions import SchemaError

        cls = validators.validator_for(spec.json_schema)
        try:
            cls.check_schema(spec.json_schema)
        except SchemaError as exc:
            raise ConfigError(f"invalid JSON schema: {exc.message}", field="schema",
                              fix="see https://json-schema.org for the syntax") from None
        self.validator: Any = cls(spec.json_schema, format_checker=cls.FORMAT_CHECKER)

    def check(self, ctx: EvalContext) -> EvalResult:
        data, failure = parse_json(ctx.output)
        if failure:
            return failure
        errors = sorted(self.validator.iter_errors(data), key=lambda e: e.json_path)
        if not errors:
            return EvalResult.of(True, "valid against the schema")
        shown = "; ".join(f"at {e.json_path}: {shorten(e.message, 150)}"
                          for e in errors[: self.max_errors])
        more = f" (+{len(errors) - self.max_errors} more)" if len(errors) > self.max_errors else ""
        return EvalResult.of(False, f"schema violation {shown}{more}; output {clip(ctx.output)}",
                             "schema")


# --- numbers ----------------------------------------------------------------------------------

_NUMBER = re.compile(r"[-+]?(?:(?:\d{1,3}(?:,\d{3})+(?!\d)|\d+)(?:\.\d+)?|\.\d+)(?:[eE][-+]?\d+)?")


def numbers_in(text: str) -> list[float]:
    """Every number in ``text``, in order (``1,234.5`` reads as 1234.5)."""
    return [float(m.group(0).replace(",", "")) for m in _NUMBER.finditer(text)]


def parse_number(text: str) -> float | None:
    """The first number in ``text``, or None."""
    found = numbers_in(text)
    return found[0] if found else None


def _num(value: float) -> str:
    return f"{value:.10g}"


class NumericScorer(SpecScorer):
    """The first number in the output is within the absolute or relative tolerance."""

    def __init__(self, spec: Numeric) -> None:
        super().__init__(spec)
        self.spec = spec

    def _close(self, got: float, want: float) -> bool:
        allowed = max(self.spec.tolerance, self.spec.rel_tolerance * abs(want))
        return abs(got - want) <= allowed + 1e-9 * max(1.0, abs(want))

    def check(self, ctx: EvalContext) -> EvalResult:
        expected = reference(self.spec.expected, ctx.example)
        want = parse_number(expected)
        if want is None:
            raise ValueError(f"expected value {expected!r} of example {ctx.example.id!r} "
                             "is not a number")
        found = [n for n in numbers_in(ctx.output) if math.isfinite(n)]
        if not found:
            return EvalResult.of(False, f"expected a number ({_num(want)}); the output has none: "
                                 f"{clip(ctx.output)}", "no_number")
        got = found[0]
        if self._close(got, want):
            return EvalResult.of(True, f"{_num(got)} matches {_num(want)}")
        tol = max(self.spec.tolerance, self.spec.rel_tolerance * abs(want))
        within = f" (±{_num(tol)})" if tol else ""
        later = ("; the expected value appears later in the output: put the answer first"
                 if any(self._close(n, want) for n in found[1:]) else "")
        return EvalResult.of(False, f"expected {_num(want)}{within}, got {_num(got)} "
                             f"(off by {_num(got - want)}) from output {clip(ctx.output)}{later}",
                             "wrong_number")
