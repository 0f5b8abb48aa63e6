"""Build the scorers of a task from its eval specs (the strings-to-objects edge for evals)."""

from __future__ import annotations

from collections.abc import Callable

from honed.errors import ConfigError
from honed.evals.base import Scorer
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
)
from honed.evals.embedding import EmbeddingScorer
from honed.evals.judge import LlmJudgeScorer
from honed.evals.python import PythonScorer
from honed.evals.text import TextMetricScorer
from honed.providers.base import Model
from honed.task.eval_specs import (
    EVAL_TYPES,
    Contains,
    Cost,
    Embedding,
    ExactMatch,
    JsonSchema,
    JsonValid,
    Latency,
    Length,
    LlmJudge,
    Numeric,
    OneOf,
    Python,
    Regex,
    TextMetric,
)
from honed.task.task import Task
from honed.task.template import variables

JudgeModels = Callable[[str | None], Model]


def _choices(task: Task) -> list[str] | None:
    return list(task.output.choices) if task.output and task.output.choices else None


def _prompt_fields(task: Task) -> list[str]:
    return list(dict.fromkeys(variables(task.prompt.system) + variables(task.prompt.user)))


def _one_of(spec: OneOf, task: Task) -> OneOfScorer:
    values = spec.values or _choices(task)
    if not values:
        raise ConfigError("one_of has no values and the task has no output.choices",
                          field="values",
                          fix="list the allowed outputs in 'values', or set output.choices")
    return OneOfScorer(spec, values)


def _build(spec: object, task: Task, judge_model: JudgeModels) -> Scorer:
    match spec:
        case ExactMatch():
            return ExactMatchScorer(spec, _choices(task))
        case OneOf():
            return _one_of(spec, task)
        case Contains():
            return ContainsScorer(spec)
        case Regex():
            return RegexScorer(spec)
        case JsonValid():
            return JsonValidScorer(spec)
        case JsonSchema():
            return JsonSchemaScorer(spec)
        case Numeric():
            return NumericScorer(spec)
        case TextMetric():
            return TextMetricScorer(spec)
        case Embedding():
            return EmbeddingScorer(spec, task.base_dir)
        case Python():
            return PythonScorer(spec, task.base_dir, task.source)
        case LlmJudge():
            return LlmJudgeScorer(spec, judge_model(spec.model), _prompt_fields(task) or None)
        case Cost():
            return CostScorer(spec)
        case Latency():
            return LatencyScorer(spec)
        case Length():
            return LengthScorer(spec)
    kind = getattr(spec, "type", type(spec).__name__)
    raise ConfigError(f"unknown eval type {kind!r}", field="type",
                      fix=f"use one of: {', '.join(EVAL_TYPES)}")


def build_scorers(task: Task, judge_model: JudgeModels) -> list[Scorer]:
    """One scorer per eval of ``task``, in order, named ``eval_name(spec)`` and weighted.

    ``judge_model(spec.model)`` gives the model for an ``llm_judge`` eval (None: the default).
    A bad eval raises ``ConfigError`` naming the task file and ``evals.<i>.<field>``.
    """
    scorers: list[Scorer] = []
    for index, spec in enumerate(task.evals):
        try:
            scorers.append(_build(spec, task, judge_model))
        except ConfigError as exc:
            exc.file = exc.file or task.source
            exc.field = f"evals.{index}.{exc.field}" if exc.field else f"evals.{index}"
            raise
    return scorers
