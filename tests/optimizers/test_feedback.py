"""Feedback text, optimization memory and the proposer's parsing and placeholder checks."""

from __future__ import annotations

import asyncio

import honed
from honed.engine.budget import Limits
from honed.engine.results import ExampleResult
from honed.evals.base import EvalResult
from honed.optimizers.base import Scored
from honed.optimizers.feedback import (
    ExampleView,
    categories,
    combined_feedback,
    describe,
    fixes,
    regressions,
)
from honed.optimizers.memory import Attempt, IterationSummary, OptimizationMemory
from honed.optimizers.proposer import Placeholders, Proposer, meta_prompt, parse
from honed.optimizers.session import SearchOptions, open_search
from honed.providers.base import Request
from honed.providers.fake import FakeModel, last_user
from honed.task.config import load_splits
from honed.types import Candidate

ROWS = [{"text": "I love it", "label": "positive"},
        {"text": "great value", "label": "positive"},
        {"text": "terrible service", "label": "negative"},
        {"text": "awful, never again", "label": "negative"},
        {"text": "it is blue", "label": "neutral"},
        {"text": "arrives on monday", "label": "neutral"},
        {"text": "server exploded", "label": "negative"}]
ANSWERS = {"I love it": "positive", "great value": "The answer is positive.",
           "terrible service": "positive", "awful, never again": "positive",
           "it is blue": "positive", "arrives on monday": "neutral"}


def answer(request: Request) -> str:
    return ANSWERS.get(last_user(request), "")  # "server exploded" gets an empty answer


def make_task() -> honed.Task:
    return honed.Task(name="t", model="fake", prompt={"system": "Classify.", "user": "{text}"},
                      data={"train": ROWS, "val": ROWS,
                            "test": [{"text": "fine", "label": "neutral"}]},
                      evals=[{"type": "exact_match", "expected": "{label}"}],
                      output={"choices": ["positive", "negative", "neutral"]})


def scored_seed() -> tuple[Scored, ExampleView]:
    task = make_task()
    splits = load_splits(task)

    async def go() -> tuple[Scored, ExampleView]:
        options = SearchOptions(limits=Limits(max_calls=100))
        async with open_search(task, splits, options, model=FakeModel(answer)) as ctx:
            seed = task.seed_candidate()
            scored = await ctx.evaluate(seed, "val")
            return scored, ExampleView.for_search(ctx, seed)

    return asyncio.run(go())


def test_feedback_counts_categories_and_concrete_cases() -> None:
    scored, view = scored_seed()
    text = describe(scored, view)
    assert "val: 2/7 passed" in text
    assert categories(scored) == {"wrong_label": 3, "empty": 1, "format": 1}
    assert "- wrong_label (3 failures)" in text and "- format (1 failure)" in text
    assert "- empty (1 failure)" in text
    # concrete cases: input fields, expected, actual and the eval's feedback
    assert "input: text: 'terrible service'" in text
    assert "expected: 'negative'" in text and "actual: 'positive'" in text
    assert "feedback: exact_match:" in text
    # a pattern computed from the failures: the label confusions with their counts
    assert "expected 'negative' -> got 'positive' (2x)" in text
    # at most two examples per category
    assert text.count("example 3:") == 0


def test_feedback_is_capped_and_patterns_only_mode_hides_inputs() -> None:
    scored, view = scored_seed()
    assert len(describe(scored, view, limit=300)) <= 330
    assert "[... feedback truncated]" in describe(scored, view, limit=300)
    patterns = describe(scored, view, examples=0)
    assert "terrible service" not in patterns and "wrong_label (3 failures)" in patterns


def test_errors_are_a_category_of_their_own() -> None:
    results = (ExampleResult("a", "x", 1.0, True),
               ExampleResult("b", error="ProviderError: boom", error_kind="provider"),
               ExampleResult("c", error="skipped", error_kind="budget"))
    scored = Scored(Candidate({"system": "", "user": "{text}"}), "train", 1.0, 1, (1.0, 1.0),
                    1.0, results, 0.0, 0.0)
    text = describe(scored)
    assert "1/2 passed" in text and "error:provider (1 failure)" in text and "boom" in text


def test_regressions_fixes_and_combined_feedback() -> None:
    ok, bad = EvalResult.of(True), EvalResult.of(False, "expected 'a', got 'b'", "wrong_label")
    cand = Candidate({"system": "s", "user": "{text}"})

    def scored(passed: dict[str, bool]) -> Scored:
        res = tuple(ExampleResult(k, "a" if v else "b", float(v), v, {"m": ok if v else bad})
                    for k, v in passed.items())
        return Scored(cand, "train", 0.5, len(res), (0, 1), 0.5, res, 0, 0)

    before, after = scored({"x": True, "y": False}), scored({"x": False, "y": True})
    assert [r.example_id for r in regressions(before, after)] == ["x"]
    assert fixes(before, after) == ["y"]
    val, view = scored_seed()
    text = combined_feedback(val, regressions(before, after), view)
    assert text.startswith("SITUATION:") and "Training cases to preserve" in text
    assert "input: example x" in text and "WITHOUT breaking" in text
    assert "wrong_label" in text


def test_memory_lessons_and_recent_history() -> None:
    memory = OptimizationMemory()
    memory.learn(Attempt("added explicit format", "train", 0.4, 0.5, True))
    memory.learn(Attempt("over-specified edge cases", "train", 0.5, 0.3, False))
    memory.learn(Attempt("reworded", "train", 0.5, 0.5, True))
    memory.learn(Attempt("broad rule", "train", 1.0, 0.8, False, reason="broke 2 train cases"))
    assert memory.lessons == ["+ added explicit format -> +10% on train (kept)",
                              "- over-specified edge cases -> regression -20% on train",
                              "= reworded -> no change on train (lateral move kept)",
                              "- broad rule -> rejected: broke 2 train cases"]
    for i in range(1, 5):
        memory.add(IterationSummary(i, "train", True, f"change {i}", "3 wrong_label", "train",
                                    0.4, 0.5, fixed=1))
    text = memory.render()
    assert "Accumulated lessons:" in text and "Iteration 1 " not in text
    assert "Iteration 4 (train): ACCEPTED" in text and "Training" not in text
    assert "train 40% -> 50%" in text and "fixed 1 failure(s)" in text


def test_parse_blocks_json_and_junk() -> None:
    text = ("Sure!\n<<<RATIONALE\nfirst\n>>>\n<<<SYSTEM\nBe brief.\n>>>\n<<<USER\n{text}\n>>>\n"
            "<<<RATIONALE\nsecond\n>>>\n<<<SYSTEM\nBe long.\n>>>\n<<<RATIONALE\nempty\n>>>")
    groups, junk = parse(text)
    assert [g["rationale"] for g in groups] == ["first", "second"] and junk == 1
    assert groups[0]["user"] == "{text}" and "user" not in groups[1]
    groups, junk = parse('```json\n[{"system": "A", "user": "{text}", "rationale": "r"}]\n```')
    assert groups == [{"system": "A", "user": "{text}", "rationale": "r"}] and junk == 0
    assert parse("I cannot help with that.") == ([], 1)
    assert parse('{"oops": ') == ([], 1)


def test_placeholders_are_repaired_never_lost_or_leaked() -> None:
    seed = Candidate({"system": "Classify {lang} text.", "user": "Text: {text}"})
    ph = Placeholders.of(seed)
    system, user, changed = ph.repair("Use {label} and {lang}.", "Answer now.")
    assert changed and system == "Use {{label}} and {lang}." and user == "Answer now.\n\n{text}"
    assert ph.repair("ok", "T: {text} {{x}}") == ("ok", "T: {text} {{x}}", False)
    proposer = Proposer(seed)
    answer_text = ("<<<SYSTEM\nNew {label}\n>>>\n<<<USER\nnothing\n>>>\n"
                   "<<<SYSTEM\nClassify {lang} text.\n>>>\n<<<USER\nText: {text}\n>>>")
    proposals = proposer.accept(answer_text, seed, {seed.id})
    assert len(proposals) == 1 and proposer.stats.duplicates == 1
    assert proposals[0].candidate.user == "nothing\n\n{text}"
    assert proposer.stats.repaired == 1


def test_meta_prompts_ship_as_package_data() -> None:
    for name in ("reflect.md", "merge.md"):
        text = meta_prompt(name)
        assert "<<<SYSTEM" in text and "<<<RATIONALE" in text and "{required}" in text
