"""The ``mlflow`` optimizer (``mlflow.genai.optimize_prompts``) end to end, offline, on fakes.

The task is the one of ``test_gepa_backend``: the scripted task model answers a review's label
only when the system prompt carries ``MAGIC``. The reflection model answers GEPA's reflection
prompt with ``MAGIC`` (the system prompt) and MLflow's meta-prompt with JSON.
"""

from __future__ import annotations

import importlib.util
import json
import os
from typing import Any

import pytest

from honed.errors import BudgetExhausted, ConfigError
from honed.optimizers.registry import NEEDS_DEMO_TARGET, NEEDS_REFLECTION, build_optimizer
from honed.providers.base import Request
from honed.providers.fake import FakeModel, last_user
from honed.types import Candidate

from .test_gepa_backend import MAGIC, REFLECTION, Outcome, reflect, run, useless

needs_mlflow = pytest.mark.skipif(
    any(importlib.util.find_spec(m) is None for m in ("mlflow", "gepa", "litellm")),
    reason="mlflow, gepa or litellm is not installed")

META = "expert prompt engineer"


def meta(request: Request) -> str:
    """MLflow's meta-prompt gets JSON (the templates keep MLflow's ``{{text}}``)."""
    if META in last_user(request):
        return json.dumps({"system": MAGIC, "user": "Review: {{text}}"})
    return reflect(request)


def final_step(out: Outcome) -> dict[str, Any]:
    steps = [s for s in out.steps if s["phase"] == "mlflow" and "GEPA's own" not in s["note"]]
    assert len(steps) == 1, out.steps
    assert steps[0]["split"] == "val" and steps[0]["n"] == 6
    return steps[0]


def test_the_registry_builds_it() -> None:
    from honed.optimizers.mlflow_backend import MlflowSearch

    optimizer = build_optimizer("mlflow")
    assert isinstance(optimizer, MlflowSearch) and optimizer.algorithm == "gepa"
    assert "mlflow" not in NEEDS_REFLECTION and "mlflow" not in NEEDS_DEMO_TARGET
    with pytest.raises(ConfigError, match="algorithm gepa only"):
        build_optimizer("mlflow", algorithm="metaprompt", max_metric_calls=10)


def test_a_missing_mlflow_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    from honed.optimizers.mlflow_backend import INSTALL, load_mlflow

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "mlflow" else real(name, *a))
    with pytest.raises(ConfigError) as info:
        load_mlflow(gepa=True)
    assert info.value.fix == INSTALL


def test_templates_become_mlflow_prompts_and_back() -> None:
    from honed.optimizers.mlflow_backend.runtime import Templates

    seed = Candidate({"system": "JSON {{\"a\": 1}}.", "user": "Review: {text}"}, ("d1",))
    templates = Templates.of(seed, ["system", "user"])
    assert templates.mlflow_seed() == {"system": "JSON {\"a\": 1}.", "user": "Review: {{text}}"}
    assert templates.candidate(templates.mlflow_seed()) == seed
    made = templates.candidate({"system": "Say {{label}}.", "user": "R: {{text}}"})
    assert made == Candidate({"system": "Say {{label}}.", "user": "R: {text}"}, ("d1",))


@needs_mlflow
def test_mlflow_gepa_finds_the_instruction_offline(capfd: pytest.CaptureFixture[str]) -> None:
    before = {k: os.environ.get(k) for k in ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI")}
    reflection = FakeModel(reflect)
    out = run(build_optimizer("mlflow"), max_calls=60, reflection=reflection)
    assert out.error is None and out.rollouts <= 60
    assert out.best.score == 1.0 and out.best.candidate.system == MAGIC
    step = final_step(out)
    assert step["accepted"] and "max_metric_calls=" in step["note"]
    assert "new system" in step["note"]
    assert out.proposer_calls == len(reflection.calls) >= 1
    assert not any(REFLECTION in last_user(r)
                                        for r in out.task_model.calls)
    shown = "\n".join(last_user(r) for r in reflection.calls)
    assert "exact_match" in shown, "honed's eval feedback reaches MLflow's reflection"
    assert {k: os.environ.get(k) for k in before} == before  # MLflow's URIs restored
    assert capfd.readouterr() == ("", "")


@needs_mlflow
def test_mlflow_metaprompt_rewrites_the_prompt_once() -> None:
    reflection = FakeModel(meta)
    out = run(build_optimizer("mlflow", algorithm="metaprompt"), max_calls=60,
              reflection=reflection)
    assert out.error is None and out.rollouts <= 60
    assert len(reflection.calls) == 1
    assert out.best.candidate.components == {"system": MAGIC, "user": "Review: {text}"}
    assert out.best.score == 1.0 and "metaprompt" in final_step(out)["note"]


@needs_mlflow
def test_mlflow_gepa_stays_within_the_budget_and_ends_cleanly() -> None:
    reflection = FakeModel(useless)
    out = run(build_optimizer("mlflow"), max_calls=33, reflection=reflection)
    assert out.error is None and out.rollouts <= 33
    assert len(out.task_model.calls) + len(reflection.calls) <= 33
    assert out.best.candidate == out.seed.candidate


@needs_mlflow
def test_too_small_a_budget_raises_before_mlflow_starts() -> None:
    out = run(build_optimizer("mlflow"), max_calls=20, reflection=FakeModel(reflect))
    assert isinstance(out.error, BudgetExhausted) and "at least" in str(out.error)
    assert out.rollouts == 6 and len(out.task_model.calls) == 6
