"""Typed eval declarations, one model per ``type``. Scorers are built from them in ``evals``.

A ``type`` that an installed plugin declares (entry point group ``honed.evals``) parses as a
``PluginEval``: its own fields are kept as they are and checked by the plugin's parameter model
when its scorer is built (``honed.evals.registry``). Any other unknown type is an error.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag, model_validator

from honed.plugins import EVALS_GROUP, has_plugin

_JUDGE_REF = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*(@[A-Za-z0-9_-]+|/\d+)$")


class _Eval(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    name: str | None = Field(None, description="name in reports; defaults to the type")
    weight: float = Field(1.0, ge=0, description="share of the task score")


class _Graded(_Eval):
    expected: str = Field("{label}", description="reference template over example fields")
    threshold: float = Field(0.5, ge=0, le=1, description="score at or above which it passes")


class Normalize(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    ignore_case: bool = True
    strip: bool = True
    collapse_whitespace: bool = True
    strip_punctuation: bool = False
    first_line: bool = False


class ExactMatch(_Eval):
    type: Literal["exact_match"]
    expected: str = "{label}"
    normalize: Normalize = Normalize()


class Contains(_Eval):
    type: Literal["contains", "not_contains"]
    value: str | list[str] = Field(description="text (template) or list of texts")
    mode: Literal["all", "any"] = "all"
    ignore_case: bool = True


class Regex(_Eval):
    type: Literal["regex"]
    pattern: str
    fullmatch: bool = False
    ignore_case: bool = False


class OneOf(_Eval):
    type: Literal["one_of"]
    values: list[str] | None = Field(None, description="allowed outputs; default: output.choices")
    normalize: Normalize = Normalize()


class JsonValid(_Eval):
    type: Literal["json_valid"]


class JsonSchema(_Eval):
    type: Literal["json_schema"]
    json_schema: dict[str, Any] = Field(alias="schema")
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class Numeric(_Eval):
    type: Literal["numeric"]
    expected: str = "{label}"
    tolerance: float = Field(0.0, ge=0, description="absolute tolerance")
    rel_tolerance: float = Field(0.0, ge=0)


class TextMetric(_Graded):
    type: Literal["f1", "rouge_l", "bleu"]


class Embedding(_Graded):
    type: Literal["embedding"]
    threshold: float = 0.8
    model: str = Field("all-MiniLM-L6-v2", description="offline sentence-transformers model")


class Python(_Eval):
    type: Literal["python"]
    function: str = Field(description="'package.module:func' or 'path/to/file.py:func'")
    threshold: float = Field(0.5, ge=0, le=1)
    config: dict[str, Any] = Field(default_factory=dict, description="passed to the function")


class LlmJudge(_Eval):
    type: Literal["llm_judge"]
    rubric: str = Field("", description="what the judge checks; not needed with 'prompt'")
    prompt: str | None = Field(None, description="a registered judge (honed judge align): "
                               "NAME@ALIAS or NAME/VERSION; its prompt, demos and label scale "
                               "replace 'rubric'")
    model: str | None = Field(None, description="judge model spec; default: the task model")
    expected: str | None = Field(None, description="optional reference shown to the judge")
    threshold: float = Field(0.5, ge=0, le=1)

    @model_validator(mode="after")
    def _rubric_or_prompt(self) -> LlmJudge:
        fix = " | fix: "  # as task.FIX: what follows is the fix
        if self.prompt is not None and not _JUDGE_REF.match(self.prompt.strip()):
            raise ValueError(f"prompt {self.prompt[:60]!r} is not a prompt reference{fix}use "
                             "NAME@ALIAS (e.g. helpful-judge@production) or NAME/VERSION")
        if self.prompt is None and not self.rubric.strip():
            raise ValueError(f"llm_judge needs a rubric{fix}write rubric: (what a good output "
                             "does), or prompt: NAME@ALIAS for a judge from honed judge align")
        return self


class Cost(_Eval):
    type: Literal["cost"]
    max_usd: float = Field(ge=0)


class Latency(_Eval):
    type: Literal["latency"]
    max_s: float = Field(gt=0)


class Length(_Eval):
    type: Literal["length"]
    min_chars: int | None = Field(None, ge=0)
    max_chars: int | None = Field(None, ge=0)
    max_words: int | None = Field(None, ge=0)
    max_tokens: int | None = Field(None, ge=0, description="output tokens")


class PluginEval(_Eval):
    """An eval type from an installed plugin; every field besides name/weight is its own."""

    model_config = ConfigDict(extra="allow", frozen=True)
    type: str

    def params(self) -> dict[str, Any]:
        """The plugin's own fields, as written."""
        return dict(self.model_extra or {})


EVAL_TYPES = ("exact_match", "contains", "not_contains", "regex", "one_of", "json_valid",
              "json_schema", "numeric", "f1", "rouge_l", "bleu", "embedding", "python",
              "llm_judge", "cost", "latency", "length")
PLUGIN_TAG = "plugin"
_SHARED_TAGS = {"not_contains": "contains", "rouge_l": "f1", "bleu": "f1"}


def _eval_tag(value: Any) -> str | None:
    """Which model parses an eval: its type's (several types share one), a plugin's, or the
    unknown type itself (which pydantic reports as an unknown tag)."""
    kind = value.get("type") if isinstance(value, dict) else getattr(value, "type", None)
    if not isinstance(kind, str):
        return None
    if kind in EVAL_TYPES:
        return _SHARED_TAGS.get(kind, kind)
    return PLUGIN_TAG if has_plugin(EVALS_GROUP, kind) else kind


EvalSpec = Annotated[
    Annotated[ExactMatch, Tag("exact_match")] | Annotated[Contains, Tag("contains")]
    | Annotated[Regex, Tag("regex")] | Annotated[OneOf, Tag("one_of")]
    | Annotated[JsonValid, Tag("json_valid")] | Annotated[JsonSchema, Tag("json_schema")]
    | Annotated[Numeric, Tag("numeric")] | Annotated[TextMetric, Tag("f1")]
    | Annotated[Embedding, Tag("embedding")] | Annotated[Python, Tag("python")]
    | Annotated[LlmJudge, Tag("llm_judge")] | Annotated[Cost, Tag("cost")]
    | Annotated[Latency, Tag("latency")] | Annotated[Length, Tag("length")]
    | Annotated[PluginEval, Tag(PLUGIN_TAG)],
    Discriminator(_eval_tag),
]


def eval_name(spec: Any) -> str:
    return spec.name or spec.type
