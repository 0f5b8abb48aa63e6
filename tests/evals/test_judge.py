"""``llm_judge``: the grading prompt, robust parsing and the mapping to [0, 1]."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from honed.evals.base import EvalContext, EvalResult
from honed.evals.judge import LlmJudgeScorer, parse_reason, parse_score
from honed.providers.fake import FakeModel
from honed.task.eval_specs import LlmJudge
from honed.types import Example

EXAMPLE = Example("e1", {"question": "What is the capital of France?", "label": "Paris"})


def judge(reply: str, **spec: Any) -> tuple[LlmJudgeScorer, FakeModel]:
    model = FakeModel(reply)
    spec.setdefault("rubric", "The answer is correct and concise.")
    return LlmJudgeScorer(LlmJudge(type="llm_judge", **spec), model), model


def score(scorer: LlmJudgeScorer, output: str = "Paris.") -> EvalResult:
    return asyncio.run(scorer.score(EvalContext(EXAMPLE, output)))


@pytest.mark.parametrize(("reply", "value"), [
    ("SCORE: 4\nREASON: fine", 4),
    ("score:5", 5),
    ("**SCORE:** 2\n**REASON:** wrong city", 2),
    ("Score (1-5): 3\nReason: ok", 3),
    ("SCORE: 4/5", 4),
    ("I would give this 2 out of 5 because it is vague.", 2),
    ("Rating 1 to 5: 5", 5),
])
def test_parse_score(reply: str, value: int) -> None:
    assert parse_score(reply) == value


@pytest.mark.parametrize("reply", ["", "Looks good to me!", "SCORE: <an integer from 1 to 5>",
                                   "SCORE: 9", "SCORE: 10\nREASON: great, 3 details"])
def test_unparseable_reply_raises(reply: str) -> None:
    with pytest.raises(ValueError, match="no 1-5 score"):
        parse_score(reply)


def test_parse_reason() -> None:
    assert parse_reason("SCORE: 4\nREASON: clear and correct\nextra") == "clear and correct"
    assert parse_reason("SCORE: 2\nThe city is wrong.") == "The city is wrong."


@pytest.mark.parametrize(("grade", "value", "passed"), [
    (1, 0.0, False), (2, 0.25, False), (3, 0.5, True), (4, 0.75, True), (5, 1.0, True),
])
def test_score_maps_to_unit_interval(grade: int, value: float, passed: bool) -> None:
    scorer, _ = judge(f"SCORE: {grade}\nREASON: because")
    result = score(scorer)
    assert (result.score, result.passed, result.feedback) == (value, passed, "because")
    assert result.labels["judge_score"] == str(grade)
    assert result.category == ("ok" if passed else "judge_low")


def test_threshold_is_respected() -> None:
    scorer, _ = judge("SCORE: 4\nREASON: good", threshold=0.9)
    assert not score(scorer).passed


def test_unparseable_judge_reply_is_an_error_not_a_zero() -> None:
    scorer, _ = judge("I cannot grade this.")
    with pytest.raises(ValueError):
        score(scorer)


def test_prompt_contains_rubric_input_output_and_asks_temperature_0() -> None:
    scorer, model = judge("SCORE: 5\nREASON: ok", rubric="Must name the city.")
    score(scorer, "It is Paris.")
    request = model.calls[0]
    assert request.temperature == 0.0
    assert [m.role for m in request.messages] == ["system", "user"]
    prompt = request.messages[-1].content
    assert "Must name the city." in prompt
    assert "question: What is the capital of France?" in prompt
    assert "OUTPUT:\nIt is Paris." in prompt
    assert "SCORE: <an integer from 1 to 5>" in prompt
    assert "REFERENCE" not in prompt


def test_reference_is_shown_and_hidden_from_inputs() -> None:
    scorer, model = judge("SCORE: 5\nREASON: ok", expected="{label}")
    score(scorer)
    prompt = model.calls[0].messages[-1].content
    assert "REFERENCE ANSWER (for comparison):\nParis" in prompt
    assert "label: Paris" not in prompt


def test_input_fields_limit_what_the_judge_sees() -> None:
    model = FakeModel("SCORE: 3\nREASON: ok")
    scorer = LlmJudgeScorer(LlmJudge(type="llm_judge", rubric="r"), model, ["question"])
    score(scorer)
    prompt = model.calls[0].messages[-1].content
    assert "question:" in prompt and "label:" not in prompt


def test_name_and_weight() -> None:
    scorer, _ = judge("SCORE: 3", name="helpful", weight=0.5)
    assert (scorer.name, scorer.weight) == ("helpful", 0.5)
