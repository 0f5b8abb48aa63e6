"""Rich, data-driven feedback for a proposer: what passed, what failed, how and why.

``describe(scored, view)`` turns a ``Scored`` into text: the pass count ("7/10 passed"), failures
grouped by the evals' ``category`` labels (and errors by kind), each with its count, a pattern
computed from the failing cases (label confusions, output length) and one or two concrete cases
(input fields, expected, actual, the eval's feedback). ``combined_feedback`` is the validation
phase's message after a candidate broke train cases: the val patterns to fix plus the train cases
the next prompt must keep passing. Every text is capped in length.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from honed.engine.results import ExampleResult
from honed.evals.normalize import diff, shorten
from honed.optimizers.base import Scored, SearchContext
from honed.task.template import render, variables
from honed.types import Candidate, Example

MAX_CHARS = 4000
MAX_CATEGORIES = 6
FIELD_CHARS = 240


@dataclass(frozen=True)
class ExampleView:
    """How to show an example: its input fields and its expected answer."""

    examples: Mapping[str, Example] = field(default_factory=dict)
    inputs: tuple[str, ...] = ()
    expected: str | None = None

    @classmethod
    def for_search(cls, ctx: SearchContext, seed: Candidate) -> ExampleView:
        """Inputs are the prompt's placeholders; expected is the task's answer template."""
        inputs = tuple(dict.fromkeys(variables(seed.system) + variables(seed.user)))
        examples = {ex.id: ex for ex in ctx.splits.train + ctx.splits.val}
        return cls(examples, inputs, ctx.task.target_template())

    def input_text(self, example_id: str) -> str:
        example = self.examples.get(example_id)
        if example is None:
            return f"example {example_id}"
        hidden = set(variables(self.expected or ""))
        names = self.inputs or tuple(k for k in example.fields if k not in hidden)
        return "; ".join(f"{n}: {shorten(str(example.get(n, '')), FIELD_CHARS)!r}"
                         for n in names)

    def expected_of(self, example_id: str) -> str | None:
        example = self.examples.get(example_id)
        if example is None or self.expected is None:
            return None
        try:
            return render(self.expected, example.fields)
        except KeyError:
            return None


def category(result: ExampleResult) -> str:
    """The failure category of one result: an error kind or the first failing eval's label."""
    if result.error_kind in ("provider", "scorer"):
        return f"error:{result.error_kind}"
    failing = [e for e in result.evals.values() if not e.passed]
    if failing:
        return failing[0].category
    return "format" if result.format_violation else "wrong"


def _eval_feedback(result: ExampleResult) -> str:
    if result.error:
        return shorten(result.error, FIELD_CHARS)
    notes = [f"{name}: {e.feedback}" for name, e in result.evals.items()
             if not e.passed and e.feedback]
    return shorten(" | ".join(notes), 2 * FIELD_CHARS)


def failed_results(scored: Scored) -> list[ExampleResult]:
    """Wrong answers and errors alike (budget-skipped examples are not failures)."""
    return [r for r in scored.results
            if (r.score is not None and not r.passed) or r.error_kind in ("provider", "scorer")]


def group_failures(results: Sequence[ExampleResult]) -> list[tuple[str, list[ExampleResult]]]:
    """Failures by category, the most frequent first (ties by name)."""
    groups: dict[str, list[ExampleResult]] = {}
    for result in results:
        groups.setdefault(category(result), []).append(result)
    return sorted(groups.items(), key=lambda kv: (-len(kv[1]), kv[0]))


def pattern(results: Sequence[ExampleResult], view: ExampleView) -> str:
    """What the failures of one category have in common, computed from the cases."""
    pairs = [(view.expected_of(r.example_id), r.output.strip()) for r in results]
    known = [(e, o) for e, o in pairs if e is not None]
    parts: list[str] = []
    short = [(e, o) for e, o in known if len(e) <= 40 and len(o) <= 40]
    if short:
        top = Counter(short).most_common(3)
        parts.append("confusions: " + ", ".join(f"expected {e!r} -> got {o!r} ({n}x)"
                                                for (e, o), n in top))
    if known:
        out_len = sum(len(o) for _, o in known) / len(known)
        exp_len = sum(len(e) for e, _ in known) / len(known)
        if out_len > 1.5 * exp_len + 10:
            parts.append(f"outputs average {out_len:.0f} chars vs {exp_len:.0f} expected "
                         f"(extra text around the answer)")
        elif out_len < 0.5 * exp_len:
            parts.append(f"outputs average {out_len:.0f} chars vs {exp_len:.0f} expected "
                         f"(answers are cut short or empty)")
    return "; ".join(parts)


def diverse(results: Sequence[ExampleResult], view: ExampleView) -> list[ExampleResult]:
    """Results reordered so that different (expected, actual) pairs come first."""
    seen: set[tuple[str | None, str]] = set()
    first: list[ExampleResult] = []
    rest: list[ExampleResult] = []
    for result in results:
        key = (view.expected_of(result.example_id), result.output.strip())
        (rest if key in seen else first).append(result)
        seen.add(key)
    return first + rest


def case_text(result: ExampleResult, view: ExampleView, *, indent: str = "    ") -> str:
    """One concrete case: input fields, expected, actual, diff and the eval's feedback."""
    lines = [f"{indent}input: {view.input_text(result.example_id)}"]
    expected = view.expected_of(result.example_id)
    if expected is not None:
        lines.append(f"{indent}expected: {shorten(expected, FIELD_CHARS)!r}")
    lines.append(f"{indent}actual: {shorten(result.output, FIELD_CHARS)!r}")
    if expected is not None and result.output and len(expected.split()) > 3:
        lines.append(f"{indent}diff: {diff(expected, result.output.strip())}")
    note = _eval_feedback(result)
    if note:
        lines.append(f"{indent}feedback: {note}")
    return "\n".join(lines)


def _category_block(name: str, results: Sequence[ExampleResult], view: ExampleView,
                    examples: int) -> str:
    noun = "failure" if len(results) == 1 else "failures"
    lines = [f"- {name} ({len(results)} {noun})"]
    found = pattern(results, view)
    if found:
        lines.append(f"  pattern: {found}")
    for index, result in enumerate(diverse(results, view)[:examples], 1):
        lines.append(f"  example {index}:")
        lines.append(case_text(result, view))
    return "\n".join(lines)


def cap(text: str, limit: int = MAX_CHARS) -> str:
    if len(text) <= limit:
        return text
    return text[:limit].rsplit("\n", 1)[0] + "\n[... feedback truncated]"


def describe(scored: Scored, view: ExampleView | None = None, *, examples: int = 2,
             limit: int = MAX_CHARS) -> str:
    """The feedback text for one evaluation; ``examples=0`` gives patterns only."""
    view = view or ExampleView()
    failures = failed_results(scored)
    total = len(scored.passes()) + len(failures)
    lines = [f"{scored.split}: {len(scored.passes())}/{total} passed "
             f"(score {scored.score:.2f})"]
    groups = group_failures(failures)
    if not groups:
        lines.append("All cases pass.")
        return cap("\n".join(lines), limit)
    summary = ", ".join(f"{len(rs)} {name}" for name, rs in groups)
    lines.append(f"Failures by category: {summary}")
    for name, results in groups[:MAX_CATEGORIES]:
        lines.append(_category_block(name, results, view, examples))
    if len(groups) > MAX_CATEGORIES:
        lines.append(f"... and {len(groups) - MAX_CATEGORIES} more categories")
    return cap("\n".join(lines), limit)


def categories(scored: Scored) -> dict[str, int]:
    """Failure counts by category."""
    return {name: len(rs) for name, rs in group_failures(failed_results(scored))}


def regressions(before: Scored, after: Scored) -> list[ExampleResult]:
    """``after``'s results on the examples ``before`` passed and ``after`` fails."""
    passed = {r.example_id for r in before.passes()}
    return [r for r in failed_results(after) if r.example_id in passed]


def fixes(before: Scored, after: Scored) -> list[str]:
    """Ids of the examples ``before`` failed and ``after`` passes."""
    failed = {r.example_id for r in failed_results(before)}
    return [r.example_id for r in after.passes() if r.example_id in failed]


def combined_feedback(val_scored: Scored, train_regressions: Sequence[ExampleResult],
                      view: ExampleView | None = None, *, limit: int = MAX_CHARS) -> str:
    """Val patterns to fix plus the train cases a new prompt must not break."""
    view = view or ExampleView()
    lines = ["SITUATION: the last refinement tried to fix the validation failures but broke "
             f"{len(train_regressions)} training case(s) that the current prompt passes.",
             "", "Validation patterns to fix:",
             describe(val_scored, view, examples=0, limit=limit // 2), "",
             "Training cases to preserve (the current prompt passes them; the rejected "
             "refinement broke them):"]
    for index, result in enumerate(train_regressions[:4], 1):
        expected = view.expected_of(result.example_id)
        lines.append(f"- case {index}: input: {view.input_text(result.example_id)}")
        if expected is not None:
            lines.append(f"    must answer: {shorten(expected, FIELD_CHARS)!r}; the rejected "
                         f"prompt answered {shorten(result.output, FIELD_CHARS)!r}")
    if len(train_regressions) > 4:
        lines.append(f"- ... and {len(train_regressions) - 4} more")
    lines += ["", "TASK: fix the validation patterns WITHOUT breaking these training cases."]
    return cap("\n".join(lines), limit)
