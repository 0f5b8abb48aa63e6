"""Built-in deterministic scorers and the normalization helpers they use."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from honed.errors import ConfigError
from honed.evals.base import EvalContext, EvalResult, Scorer
from honed.evals.builtin import (
    ContainsScorer,
    CostScorer,
    ExactMatchScorer,
    JsonSchemaScorer,
    JsonValidScorer,
    LatencyScorer,
    LengthScorer,
    NumericScorer,
    OneOfScorer,
    RegexScorer,
    parse_number,
)
from honed.evals.normalize import clip, diff, normalize
from honed.task.eval_specs import (
    Contains,
    Cost,
    ExactMatch,
    JsonSchema,
    JsonValid,
    Latency,
    Length,
    Normalize,
    Numeric,
    OneOf,
    Regex,
)
from honed.types import Example, Usage

LABELS = ["positive", "negative", "neutral"]


def score(scorer: Scorer, output: str, **fields: Any) -> EvalResult:
    ctx = EvalContext(Example("ex1", fields), output)
    return asyncio.run(scorer.score(ctx))


def score_ctx(scorer: Scorer, **kwargs: Any) -> EvalResult:
    ctx = EvalContext(Example("ex1", {}), **kwargs)
    return asyncio.run(scorer.score(ctx))


# --- normalize ----------------------------------------------------------------------------------


def test_normalize_defaults_fold_case_and_whitespace() -> None:
    assert normalize("  Hello \n  World  ") == "hello world"


def test_normalize_punctuation_and_first_line() -> None:
    spec = Normalize(strip_punctuation=True, first_line=True)
    assert normalize("\n  Positive!\nBecause it is great.", spec) == "positive"


def test_normalize_can_keep_everything() -> None:
    spec = Normalize(ignore_case=False, strip=False, collapse_whitespace=False)
    assert normalize(" A  b ", spec) == " A  b "


def test_diff_marks_characters_for_single_words() -> None:
    assert diff("positive", "Positive.") == "[-p-]{+P+}ositive{+.+}"


def test_diff_marks_words_for_sentences() -> None:
    assert diff("the cat sat", "the dog sat") == "the [-cat-]{+dog+} sat"


def test_clip_truncates_long_text() -> None:
    text = clip("x" * 500)
    assert text.startswith("'xxx") and "(+300 chars)" in text and len(text) < 230


# --- exact_match --------------------------------------------------------------------------------


def test_exact_match_passes_after_normalization() -> None:
    scorer = ExactMatchScorer(ExactMatch(type="exact_match"))
    result = score(scorer, " Positive\n", label="positive")
    assert result.passed and result.score == 1.0


def test_exact_match_wrong_label_among_choices() -> None:
    scorer = ExactMatchScorer(ExactMatch(type="exact_match"), LABELS)
    result = score(scorer, "negative", label="positive")
    assert not result.passed and result.score == 0.0
    assert result.category == "wrong_label"
    assert "expected 'positive'" in result.feedback and "'negative'" in result.feedback


def test_exact_match_output_outside_choices_is_format() -> None:
    scorer = ExactMatchScorer(ExactMatch(type="exact_match"), LABELS)
    result = score(scorer, "The sentiment is positive.", label="positive")
    assert result.category == "format"
    assert "not one of the labels" in result.feedback
    assert "contains the label 'positive' plus extra text" in result.feedback


def test_exact_match_near_miss_label_is_named() -> None:
    scorer = ExactMatchScorer(ExactMatch(type="exact_match"), LABELS)
    result = score(scorer, "positve", label="positive")
    assert result.category == "format" and "closest label 'positive'" in result.feedback


def test_exact_match_without_choices_shows_diff() -> None:
    scorer = ExactMatchScorer(ExactMatch(type="exact_match", expected="{answer}"))
    result = score(scorer, "Paris, France", answer="Paris")
    assert result.category == "wrong_answer"
    assert "diff: paris{+, france+}" in result.feedback


def test_exact_match_empty_output() -> None:
    result = score(ExactMatchScorer(ExactMatch(type="exact_match")), "  ", label="positive")
    assert result.category == "empty" and "expected 'positive'" in result.feedback


def test_exact_match_missing_reference_field_raises() -> None:
    with pytest.raises(ValueError, match="needs field 'label'"):
        score(ExactMatchScorer(ExactMatch(type="exact_match")), "x", text="no label here")


def test_exact_match_name_and_weight_come_from_spec() -> None:
    scorer = ExactMatchScorer(ExactMatch(type="exact_match", name="acc", weight=2.0))
    assert (scorer.name, scorer.weight) == ("acc", 2.0)


# --- one_of -------------------------------------------------------------------------------------


def test_one_of_accepts_any_allowed_value() -> None:
    scorer = OneOfScorer(OneOf(type="one_of"), LABELS)
    assert score(scorer, "NEUTRAL").passed


def test_one_of_rejects_other_text_as_format() -> None:
    scorer = OneOfScorer(OneOf(type="one_of"), LABELS)
    result = score(scorer, "I think it's mixed")
    assert not result.passed and result.category == "format"
    assert "'positive', 'negative', 'neutral'" in result.feedback


# --- contains / not_contains --------------------------------------------------------------------


def test_contains_all_gives_partial_credit() -> None:
    scorer = ContainsScorer(Contains(type="contains", value=["{city}", "France"]))
    result = score(scorer, "It is Paris.", city="paris")
    assert not result.passed and result.score == 0.5
    assert result.category == "missing_text" and "missing 'France'" in result.feedback


def test_contains_any_passes_with_one_hit() -> None:
    scorer = ContainsScorer(Contains(type="contains", value=["yes", "true"], mode="any"))
    assert score(scorer, "TRUE").passed
    result = score(scorer, "no")
    assert result.category == "missing_text" and "none of these appears" in result.feedback


def test_contains_respects_case_when_asked() -> None:
    scorer = ContainsScorer(Contains(type="contains", value="Paris", ignore_case=False))
    assert not score(scorer, "paris").passed


def test_not_contains_flags_forbidden_text_with_context() -> None:
    scorer = ContainsScorer(Contains(type="not_contains", value=["as an ai", "sorry"]))
    result = score(scorer, "Well, as an AI language model I cannot say.")
    assert not result.passed and result.score == 0.5
    assert result.category == "forbidden_text"
    assert "'as an ai'" in result.feedback and "language model" in result.feedback


def test_not_contains_passes_clean_output() -> None:
    scorer = ContainsScorer(Contains(type="not_contains", value="sorry"))
    assert score(scorer, "Here you go.").passed


def test_contains_empty_list_is_config_error() -> None:
    with pytest.raises(ConfigError):
        ContainsScorer(Contains(type="contains", value=[]))


# --- regex --------------------------------------------------------------------------------------


def test_regex_search_and_fullmatch() -> None:
    search = RegexScorer(Regex(type="regex", pattern=r"\d{3}-\d{4}"))
    assert score(search, "call 555-1234 now").passed
    full = RegexScorer(Regex(type="regex", pattern=r"[A-Z]{2}", fullmatch=True))
    assert score(full, "FR\n").passed
    result = score(full, "FR is the code")
    assert result.category == "format" and "does not fully match /[A-Z]{2}/" in result.feedback


def test_regex_ignore_case() -> None:
    scorer = RegexScorer(Regex(type="regex", pattern="^yes$", ignore_case=True))
    assert score(scorer, "YES").passed


def test_regex_invalid_pattern_is_config_error() -> None:
    with pytest.raises(ConfigError, match="invalid regular expression") as info:
        RegexScorer(Regex(type="regex", pattern="(unclosed"))
    assert info.value.field == "pattern"


# --- json ---------------------------------------------------------------------------------------


def test_json_valid() -> None:
    scorer = JsonValidScorer(JsonValid(type="json_valid"))
    assert score(scorer, '{"a": 1}').passed
    result = score(scorer, '{"a": 1,}')
    assert result.category == "invalid_json" and "line 1 column" in result.feedback


def test_json_valid_explains_code_fences() -> None:
    result = score(JsonValidScorer(JsonValid(type="json_valid")), '```json\n{"a": 1}\n```')
    assert result.category == "invalid_json" and "code fence" in result.feedback


def test_json_valid_explains_leading_prose() -> None:
    result = score(JsonValidScorer(JsonValid(type="json_valid")), 'Sure! {"a": 1}')
    assert "text before the JSON" in result.feedback


SCHEMA = {
    "type": "object",
    "properties": {
        "name": {"type": "string"},
        "tags": {"type": "array", "items": {"type": "string"}},
    },
    "required": ["name"],
}


def test_json_schema_passes_valid_document() -> None:
    scorer = JsonSchemaScorer(JsonSchema(type="json_schema", schema=SCHEMA))
    assert score(scorer, '{"name": "x", "tags": ["a"]}').passed


def test_json_schema_reports_failing_path() -> None:
    scorer = JsonSchemaScorer(JsonSchema(type="json_schema", schema=SCHEMA))
    result = score(scorer, '{"name": "x", "tags": ["a", 3]}')
    assert not result.passed and result.category == "schema"
    assert "at $.tags[1]: 3 is not of type 'string'" in result.feedback


def test_json_schema_reports_missing_property_and_bad_json() -> None:
    scorer = JsonSchemaScorer(JsonSchema(type="json_schema", schema=SCHEMA))
    assert "'name' is a required property" in score(scorer, "{}").feedback
    assert score(scorer, "not json").category == "invalid_json"


def test_json_schema_invalid_schema_is_config_error() -> None:
    with pytest.raises(ConfigError, match="invalid JSON schema"):
        JsonSchemaScorer(JsonSchema(type="json_schema", schema={"type": "nope"}))


# --- numeric ------------------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "value"), [
    ("The answer is 42.", 42.0),
    ("-3.5 degrees", -3.5),
    ("total: 1,234.5 USD", 1234.5),
    ("1e3 items", 1000.0),
    ("about .5", 0.5),
    ("none", None),
])
def test_parse_number(text: str, value: float | None) -> None:
    assert parse_number(text) == value


def test_numeric_exact_and_tolerances() -> None:
    exact = NumericScorer(Numeric(type="numeric"))
    assert score(exact, "It is 42.", label="42").passed
    assert not score(exact, "42.1", label="42").passed
    absolute = NumericScorer(Numeric(type="numeric", tolerance=0.5))
    assert score(absolute, "42.4", label="42").passed
    relative = NumericScorer(Numeric(type="numeric", rel_tolerance=0.01))
    assert score(relative, "1009", label="1000").passed
    assert not score(relative, "1011", label="1000").passed


def test_numeric_feedback_and_categories() -> None:
    scorer = NumericScorer(Numeric(type="numeric", tolerance=1))
    wrong = score(scorer, "I get 40", label="42")
    assert wrong.category == "wrong_number"
    assert "expected 42 (±1), got 40 (off by -2)" in wrong.feedback
    none = score(scorer, "no idea", label="42")
    assert none.category == "no_number" and "expected a number (42)" in none.feedback


def test_numeric_hints_when_the_answer_comes_late() -> None:
    result = score(NumericScorer(Numeric(type="numeric")), "Step 1: 6*7 = 42", label="42")
    assert not result.passed and "appears later" in result.feedback


def test_numeric_non_numeric_reference_raises() -> None:
    with pytest.raises(ValueError, match="not a number"):
        score(NumericScorer(Numeric(type="numeric")), "3", label="three")


# --- cost / latency / length --------------------------------------------------------------------


def test_cost() -> None:
    scorer = CostScorer(Cost(type="cost", max_usd=0.001))
    assert score_ctx(scorer, output="x", cost_usd=0.0005).passed
    result = score_ctx(scorer, output="x", cost_usd=0.002)
    assert result.category == "over_budget" and "$0.002 exceeds the max $0.001" in result.feedback


def test_latency() -> None:
    scorer = LatencyScorer(Latency(type="latency", max_s=1.0))
    assert score_ctx(scorer, output="x", latency_s=0.5).passed
    result = score_ctx(scorer, output="x", latency_s=2.5)
    assert result.category == "too_slow" and "2.5s exceeds" in result.feedback


def test_length_limits() -> None:
    scorer = LengthScorer(Length(type="length", min_chars=3, max_words=3, max_tokens=10))
    assert score_ctx(scorer, output="one two", usage=Usage(5, 4)).passed
    short = score_ctx(scorer, output="hi")
    assert short.category == "too_short" and "2 chars < min 3" in short.feedback
    long = score_ctx(scorer, output="one two three four", usage=Usage(5, 20))
    assert long.category == "too_long"
    assert "4 words > max 3" in long.feedback and "20 output tokens > max 10" in long.feedback
