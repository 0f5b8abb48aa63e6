"""Plugins used in process: an eval type, a model provider and an optimizer found through entry
points, parsed from a task, built by the same registries as the built-ins."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from honed.errors import ConfigError
from honed.evals.base import EvalContext
from honed.evals.registry import build_scorers, eval_types
from honed.optimizers.registry import (
    NEEDS_REFLECTION,
    build_optimizer,
    describe_optimizers,
    optimizer_names,
)
from honed.providers.registry import build_model, parse_spec
from honed.task.eval_specs import PluginEval, eval_name
from honed.task.task import ModelConfig, Task, spec_problem
from honed.types import Example

PLUGIN = '''
from typing import ClassVar

from pydantic import BaseModel, ConfigDict, Field

from honed.evals.base import EvalResult
from honed.optimizers.params import OptimizerParams
from honed.providers.fake import FakeModel


class Length(BaseModel):
    """Passes when the output has at most max_chars characters."""

    model_config = ConfigDict(extra="forbid")
    max_chars: int = Field(ge=1)

    def scorer(self, env):
        return Scorer(env, self.max_chars)


class Scorer:
    def __init__(self, env, max_chars):
        self.name, self.weight, self.max_chars = env.name, env.weight, max_chars
        self.task_name = env.task.name

    async def score(self, ctx):
        return EvalResult.of(len(ctx.output) <= self.max_chars)


class NotAnEval:
    pass


def model(cfg, *, pricing=None, base_dir=None):
    return FakeModel("ok", spec=cfg.spec)


class Greedy(OptimizerParams):
    """Does nothing, greedily."""

    name: ClassVar[str] = "tiny-greedy"
    needs_reflection: ClassVar[bool] = True
    rounds: int = Field(2, ge=1, description="rounds")

    async def search(self, ctx, seed):
        ctx.phase("tiny-greedy")
'''
ENTRY_POINTS = {
    "honed.evals": {"short": "tiny_plugin:Length", "not_an_eval": "tiny_plugin:NotAnEval"},
    "honed.providers": {"tiny": "tiny_plugin:model"},
    "honed.optimizers": {"tiny-greedy": "tiny_plugin:Greedy"},
}


@pytest.fixture
def plugin(on_path: Callable[..., Path]) -> Path:
    return on_path("tiny-plugin", {"tiny_plugin.py": PLUGIN}, ENTRY_POINTS)


def task_with(evals: list[dict[str, Any]], **more: Any) -> Task:
    return Task.model_validate({
        "name": "t", "prompt": {"system": "Classify.", "user": "{text}"},
        "data": {"train": [{"text": "good", "label": "positive"}]}, "evals": evals, **more,
    }).bind(Path.cwd(), "tasks/t.yaml")


def judge(spec: str | None) -> Any:
    raise AssertionError("no judge here")


def test_a_plugin_eval_type_parses_and_builds(plugin: Path) -> None:
    task = task_with([{"type": "short", "max_chars": 3, "weight": 2}, {"type": "exact_match"}])
    spec = task.evals[0]
    assert isinstance(spec, PluginEval) and spec.params() == {"max_chars": 3}
    assert eval_name(spec) == "short" and "short" in eval_types()
    scorer, _ = build_scorers(task, judge)
    assert (scorer.name, scorer.weight, scorer.task_name) == ("short", 2.0, "t")  # type: ignore
    ctx = EvalContext(Example("e", {"text": "x"}), "okay")
    assert asyncio.run(scorer.score(ctx)).passed is False


@pytest.mark.parametrize(("fields", "where", "message"), [
    ({"max_char": 3}, "evals.0.max_char", "did you mean 'max_chars'"),
    ({"max_chars": 0}, "evals.0.max_chars", "greater than or equal to 1"),
    ({}, "evals.0.max_chars", "required"),
])
def test_bad_plugin_eval_fields_are_located(plugin: Path, fields: dict[str, Any], where: str,
                                            message: str) -> None:
    task = task_with([{"type": "short", **fields}])
    with pytest.raises(ConfigError) as info:
        build_scorers(task, judge)
    assert info.value.file == "tasks/t.yaml" and info.value.field == where
    assert message in str(info.value)


def test_an_entry_point_that_is_not_an_eval(plugin: Path) -> None:
    with pytest.raises(ConfigError, match="not an eval plugin") as info:
        build_scorers(task_with([{"type": "not_an_eval"}]), judge)
    assert info.value.field == "evals.0.type"


def test_unknown_eval_types_stay_errors_without_a_plugin() -> None:
    with pytest.raises(ValueError, match="short"):
        task_with([{"type": "short", "max_chars": 3}])


def test_a_plugin_provider_builds_models(plugin: Path) -> None:
    assert spec_problem("tiny:anything") is None and parse_spec("Tiny:x") == ("tiny", "x")
    task = task_with([{"type": "exact_match"}], model="tiny:v1")
    model = build_model(task.model)
    assert model.spec == "tiny:v1"
    with pytest.raises(ConfigError) as info:
        build_model(ModelConfig(spec="tinny:v1"))
    assert info.value.fix == "use local, openai:NAME, anthropic:NAME or fake, or a plugin's: tiny"


def test_a_plugin_optimizer_is_registered_like_the_builtins(plugin: Path) -> None:
    assert optimizer_names()[-1] == "tiny-greedy" and "tiny-greedy" in NEEDS_REFLECTION
    optimizer = build_optimizer("tiny-greedy", {"rounds": 5})
    assert optimizer.name == "tiny-greedy" and optimizer.rounds == 5  # type: ignore[attr-defined]
    with pytest.raises(ConfigError) as info:
        build_optimizer("tiny-greedy", {"round": 5})
    assert info.value.field == "optimizer.round" and "did you mean 'rounds'" in str(info.value)
    row = next(r for r in describe_optimizers() if r["name"] == "tiny-greedy")
    assert row["plugin"] == "tiny-plugin" and row["traits"] == ["needs_reflection"]
    assert row["params"][0]["default"] == 2
