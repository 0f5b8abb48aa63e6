"""The optimizer registry: names, parameters as pydantic models, traits, CLI/YAML parameters."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from honed.errors import ConfigError
from honed.optimizers.bayes import BayesSearch
from honed.optimizers.mutate import MutateSearch
from honed.optimizers.registry import (
    NEEDS_DEMO_TARGET,
    NEEDS_REFLECTION,
    build_optimizer,
    describe_optimizers,
    optimizer_class,
    optimizer_names,
    optimizer_schemas,
    parse_params,
    type_name,
)
from honed.task.optimizer_spec import OptimizerConfig

BUILTINS = ["auto", "mutate", "fewshot", "bayes", "reflective", "pareto", "dspy:mipro",
            "dspy:gepa", "dspy:bootstrap-rs"]


def test_every_builtin_builds_with_its_defaults() -> None:
    assert optimizer_names()[:len(BUILTINS)] == BUILTINS
    for name in BUILTINS:
        optimizer = build_optimizer(name)
        assert optimizer.name == name and isinstance(optimizer, optimizer_class(name))


def test_params_come_as_a_mapping_or_keywords() -> None:
    assert build_optimizer("bayes", {"n_trials": 40}) == BayesSearch(n_trials=40)
    assert build_optimizer("bayes", n_trials=40) == BayesSearch(n_trials=40)
    assert build_optimizer("mutate", {"beam_width": 3}, patience=1) == MutateSearch(
        beam_width=3, patience=1)


def test_defaults_are_unchanged() -> None:
    assert MutateSearch().model_dump() == {"beam_width": 2, "screen_top": 3,
                                           "minibatch_size": None, "max_rounds": 8,
                                           "patience": 2}
    assert build_optimizer("reflective").model_dump() == {  # type: ignore[attr-defined]
        "candidates_per_iteration": 3, "patience": 3, "max_iterations": 20,
        "minibatch_size": None, "low_score": 0.1}


def test_optimizers_are_frozen() -> None:
    with pytest.raises(ValidationError):
        MutateSearch().beam_width = 5  # type: ignore[misc]


def test_unknown_name_suggests_the_nearest() -> None:
    with pytest.raises(ConfigError) as info:
        build_optimizer("bayse")
    assert info.value.field == "optimizer" and "unknown optimizer 'bayse'" in str(info.value)
    assert info.value.fix is not None and info.value.fix.startswith("did you mean 'bayes'? ")
    assert "dspy:gepa" in info.value.fix


@pytest.mark.parametrize(("name", "params", "field", "text"), [
    ("bayes", {"n_trial": 40}, "optimizer.n_trial", "did you mean 'n_trials'?"),
    ("bayes", {"n_trials": 0}, "optimizer.n_trials", "greater than or equal to 1"),
    ("mutate", {"beam_width": "wide"}, "optimizer.beam_width", "valid integer"),
    ("reflective", {"candidates_per_iteration": 11}, "optimizer.candidates_per_iteration",
     "less than or equal to 10"),
    ("pareto", {"merge_every": -1}, "optimizer.merge_every", "greater than or equal to 0"),
    ("auto", {"x": 1}, "optimizer.x", "auto takes no parameters"),
    ("dspy:mipro", {"auto": "huge"}, "optimizer.auto", "'light', 'medium' or 'heavy'"),
    ("dspy:mipro", {"auto": "light", "num_trials": 3}, "optimizer", "not both"),
    ("dspy:gepa", {"auto": "light", "max_metric_calls": 9}, "optimizer", "not both"),
])
def test_bad_params_name_the_param_and_the_choices(name: str, params: dict[str, Any],
                                                   field: str, text: str) -> None:
    with pytest.raises(ConfigError) as info:
        build_optimizer(name, params)
    assert info.value.field == field and text in str(info.value)


def test_bad_param_lists_the_allowed_ones() -> None:
    with pytest.raises(ConfigError) as info:
        build_optimizer("fewshot", {"max_demos": 0})
    assert info.value.fix == ("parameters of fewshot: max_demos, num_candidates, validate_top, "
                              "minibatch_size")


def test_traits_are_class_attributes() -> None:
    assert "reflective" in NEEDS_REFLECTION and "bayes" not in NEEDS_REFLECTION
    assert {n for n in BUILTINS if n in NEEDS_DEMO_TARGET} == {
        "fewshot", "dspy:mipro", "dspy:gepa", "dspy:bootstrap-rs"}
    assert "magic" not in NEEDS_DEMO_TARGET and 3 not in NEEDS_REFLECTION


def test_cli_params_parse_as_json_scalars() -> None:
    assert parse_params(["n_trials=40", "use_merge=false", "auto=light", "low_score=0.2",
                         "lines=[\"a\", \"b\"]", "minibatch_size=null", " k = yes ",
                         "text=\"7\"", "eq=a=b"]) == {
        "n_trials": 40, "use_merge": False, "auto": "light", "low_score": 0.2,
        "lines": ["a", "b"], "minibatch_size": None, "k": True, "text": "7", "eq": "a=b"}
    assert parse_params([]) == {}


@pytest.mark.parametrize("pair", ["n_trials", "=3", ""])
def test_a_param_without_key_and_value_is_a_config_error(pair: str) -> None:
    with pytest.raises(ConfigError, match="KEY=VALUE") as info:
        parse_params([pair])
    assert info.value.field == "--param"


def test_cli_params_build_the_optimizer() -> None:
    assert build_optimizer("dspy:gepa", parse_params(["use_merge=false", "auto=heavy"])
                           ).model_dump()["use_merge"] is False  # type: ignore[attr-defined]


def test_yaml_optimizer_is_a_name_or_a_mapping() -> None:
    bare = OptimizerConfig.model_validate("bayes")
    full = OptimizerConfig.model_validate({"name": "bayes", "n_trials": 40})
    assert (bare.name, bare.params()) == ("bayes", {})
    assert (full.name, full.params()) == ("bayes", {"n_trials": 40})
    assert build_optimizer(full.name, full.params()) == BayesSearch(n_trials=40)


def test_describe_optimizers() -> None:
    rows = {row["name"]: row for row in describe_optimizers()}
    assert list(rows)[:len(BUILTINS)] == BUILTINS
    bayes = rows["bayes"]
    assert bayes["summary"] == "Joint instruction x demo-set search with a seeded TPE sampler."
    assert bayes["plugin"] is None and bayes["traits"] == []
    params = {p["name"]: p for p in bayes["params"]}
    assert params["n_trials"] == {"name": "n_trials", "type": "int | None", "required": False,
                                  "default": None, "description": params["n_trials"][
                                      "description"]}
    assert "budget" in params["n_trials"]["description"]
    assert params["full_eval_every"]["default"] == 5
    assert rows["reflective"]["traits"] == ["needs_reflection"]
    assert rows["fewshot"]["traits"] == ["needs_demo_target"]
    mipro = {p["name"]: p for p in rows["dspy:mipro"]["params"]}
    assert mipro["auto"]["type"] == "'light' | 'medium' | 'heavy' | None"
    assert all(p["description"] for row in rows.values() for p in row["params"])


def test_schemas_of_the_params() -> None:
    schemas = optimizer_schemas()
    assert schemas["bayes"]["properties"]["full_eval_every"]["minimum"] == 1
    assert schemas["mutate"]["additionalProperties"] is False


def test_type_names() -> None:
    assert [type_name(t) for t in (int, int | None, list[str], None)] == [
        "int", "int | None", "list[str]", "None"]
