"""Build the scorers of a task from its eval specs: eval types -> scorer builders, one registry
for the built-in types and the ``honed.evals`` plugins.

A plugin eval is a pydantic model of its parameters with a ``scorer(env: ScorerEnv)`` method
that returns a ``Scorer``, registered under the type name it is used by::

    [project.entry-points."honed.evals"]
    shouting = "my_package.evals:Shouting"      # evals: [{type: shouting, min_ratio: 0.9}]

``name`` and ``weight`` are honed's (they reach the plugin through ``env``); every other field
of the eval is validated by the plugin's model, and a bad one is a ConfigError naming
``evals.<i>.<field>``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

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
from honed.plugins import EVALS_GROUP, Registry, did_you_mean
from honed.providers.base import Model
from honed.task.eval_specs import (
    EVAL_TYPES,
    Embedding,
    ExactMatch,
    LlmJudge,
    OneOf,
    PluginEval,
    Python,
    eval_name,
)
from honed.task.task import Task
from honed.task.template import variables

JudgeModels = Callable[[str | None], Model]


@dataclass(frozen=True)
class ScorerEnv:
    """What building a scorer may use besides the eval's own fields."""

    task: Task
    name: str  # the eval's name in reports: its ``name``, else its type
    weight: float  # its share of the task score
    judge_model: JudgeModels  # a model for a spec string (None: the judge or task model)

    @property
    def base_dir(self) -> Path:
        """The task file's folder (relative paths in an eval resolve against it)."""
        return self.task.base_dir


Builder = Callable[[Any, ScorerEnv], Scorer]


def _choices(task: Task) -> list[str] | None:
    return list(task.output.choices) if task.output and task.output.choices else None


def _prompt_fields(task: Task) -> list[str]:
    return list(dict.fromkeys(variables(task.prompt.system) + variables(task.prompt.user)))


def _one_of(spec: OneOf, env: ScorerEnv) -> Scorer:
    values = spec.values or _choices(env.task)
    if not values:
        raise ConfigError("one_of has no values and the task has no output.choices",
                          field="values",
                          fix="list the allowed outputs in 'values', or set output.choices")
    return OneOfScorer(spec, values)


def _exact_match(spec: ExactMatch, env: ScorerEnv) -> Scorer:
    return ExactMatchScorer(spec, _choices(env.task))


def _embedding(spec: Embedding, env: ScorerEnv) -> Scorer:
    return EmbeddingScorer(spec, env.base_dir)


def _python(spec: Python, env: ScorerEnv) -> Scorer:
    return PythonScorer(spec, env.base_dir, env.task.source)


def _llm_judge(spec: LlmJudge, env: ScorerEnv) -> Scorer:
    return LlmJudgeScorer(spec, env.judge_model(spec.model), _prompt_fields(env.task) or None)


def _spec_only(scorer: Callable[[Any], Scorer]) -> Builder:
    return lambda spec, env: scorer(spec)


_contains, _regex = _spec_only(ContainsScorer), _spec_only(RegexScorer)
_json_valid, _json_schema = _spec_only(JsonValidScorer), _spec_only(JsonSchemaScorer)
_numeric, _text_metric = _spec_only(NumericScorer), _spec_only(TextMetricScorer)
_cost, _latency = _spec_only(CostScorer), _spec_only(LatencyScorer)
_length = _spec_only(LengthScorer)
_BUILDERS = {"exact_match": "_exact_match", "one_of": "_one_of", "contains": "_contains",
             "not_contains": "_contains", "regex": "_regex", "json_valid": "_json_valid",
             "json_schema": "_json_schema", "numeric": "_numeric", "f1": "_text_metric",
             "rouge_l": "_text_metric", "bleu": "_text_metric", "embedding": "_embedding",
             "python": "_python", "llm_judge": "_llm_judge", "cost": "_cost",
             "latency": "_latency", "length": "_length"}
BUILTIN = {kind: f"{__name__}:{_BUILDERS[kind]}" for kind in EVAL_TYPES}
EVALS = Registry(EVALS_GROUP, "eval type", BUILTIN, field="type")


def eval_types() -> list[str]:
    """Every eval type: built-ins, then plugins."""
    return EVALS.names()


def builder_for(kind: str) -> Builder:
    """The scorer builder of eval type ``kind`` (a plugin's class wrapped as one)."""
    entry, loaded = EVALS.entry(kind), EVALS.load(kind)
    if entry.builtin:
        return loaded  # type: ignore[no-any-return]
    if not (isinstance(loaded, type) and issubclass(loaded, BaseModel)
            and callable(getattr(loaded, "scorer", None))):
        raise ConfigError(f"eval type {kind!r} ({entry.describe()}) is not an eval plugin",
                          field="type", fix="register a pydantic model with a "
                          "scorer(env) method that returns a Scorer")
    return _plugin_builder(kind, loaded)


def _plugin_builder(kind: str, model: type[BaseModel]) -> Builder:
    def build(spec: Any, env: ScorerEnv) -> Scorer:
        params = spec.params() if isinstance(spec, PluginEval) else {}
        try:
            made: Any = model.model_validate(params)
        except ValidationError as exc:
            raise _params_error(kind, model, exc) from None
        scorer = made.scorer(env)
        if not isinstance(scorer, Scorer):
            raise ConfigError(f"eval type {kind!r} built a {type(scorer).__name__}, not a "
                              "Scorer", field="type", fix="return an object with name, weight "
                              "and score(ctx) from the plugin's scorer(env)")
        return scorer

    return build


def _params_error(kind: str, model: type[BaseModel], exc: ValidationError) -> ConfigError:
    errors = exc.errors()  # a misspelt name first: it is why a required one is "missing"
    error = next((e for e in errors if e["type"] == "extra_forbidden"), errors[0])
    where = ".".join(str(p) for p in error["loc"]) or None
    allowed = list(model.model_fields)
    listed = f"fields of {kind}: {', '.join(allowed)}" if allowed else f"{kind} takes no fields"
    if error["type"] == "extra_forbidden" and where:
        return ConfigError(f"eval type {kind!r} has no field {where!r}", field=where,
                           fix=f"{did_you_mean(where, allowed)}{listed}")
    return ConfigError(f"{kind}: {error['msg']}", field=where, fix=listed)


def _build(spec: Any, task: Task, judge_model: JudgeModels) -> Scorer:
    env = ScorerEnv(task, eval_name(spec), spec.weight, judge_model)
    return builder_for(spec.type)(spec, env)


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
