"""The ``gepa`` optimizer (the standalone gepa package) end to end on local fakes.

The scripted task model answers a review's label only when the system prompt carries ``MAGIC``;
else it says "positive" (1/3 right). The scripted reflection answers GEPA's reflection prompt:
``MAGIC`` for the system prompt, ``Review: {text}`` for the user template.
"""

from __future__ import annotations

import asyncio
import importlib.util
import inspect
import sys
from dataclasses import dataclass
from typing import Any

import pytest

import honed
from honed.engine.budget import Limits
from honed.errors import BudgetExhausted, ConfigError
from honed.optimizers.base import Optimizer, Scored
from honed.optimizers.registry import NEEDS_DEMO_TARGET, NEEDS_REFLECTION, build_optimizer
from honed.optimizers.session import SearchOptions, open_search
from honed.providers.base import Request
from honed.providers.fake import FakeModel, last_user
from honed.task.config import load_splits
from honed.tracking.recorder import Trajectory
from honed.types import Candidate

needs_gepa = pytest.mark.skipif(importlib.util.find_spec("gepa") is None,
                                reason="the gepa package is not installed")

MAGIC = "Reply with the sentiment of the review: positive, negative or neutral."
WORDS = {"positive": "great", "negative": "awful", "neutral": "blue"}
REFLECTION = "I provided an assistant with the following instructions"
PROGRESS = "GEPA's own evaluation on val"


def rows(n: int, offset: int = 0) -> list[dict[str, str]]:
    labels = list(WORDS)
    return [{"text": f"{WORDS[labels[i % 3]]} thing number {offset + i}",
             "label": labels[i % 3]} for i in range(n)]


def make_task() -> honed.Task:
    return honed.Task(name="review_sentiment", model="fake",
                      prompt={"system": "Classify the review.", "user": "{text}"},
                      data={"train": rows(12), "val": rows(6, 100), "test": rows(3, 200)},
                      evals=[{"type": "exact_match", "expected": "{label}"}],
                      output={"choices": list(WORDS)})


def system_of(request: Request) -> str:
    return next((m.content for m in request.messages if m.role == "system"), "")


def current_text(request: Request) -> str:
    """The component text GEPA's reflection prompt shows (between the first ``` fences)."""
    return last_user(request).split("```")[1]


def reflect(request: Request) -> str:
    if REFLECTION not in last_user(request):
        return "?"
    return "```\nReview: {text}\n```" if "{text}" in current_text(request) else \
        f"```\n{MAGIC}\n```"


def answer_task(request: Request) -> str:
    label = next(k for k, w in WORDS.items() if w in last_user(request))
    return label if MAGIC in system_of(request) else "positive"


def scripted(request: Request) -> str:
    return reflect(request) if REFLECTION in last_user(request) else answer_task(request)


def useless(request: Request) -> str:  # a reflection that never finds anything better
    return "```\nClassify the review, please.\n```"


@dataclass
class Outcome:
    seed: Scored
    best: Scored
    rollouts: int
    proposer_calls: int
    steps: list[dict[str, Any]]
    task_model: FakeModel
    error: BudgetExhausted | None = None


def run(optimizer: Optimizer, *, max_calls: int | None, script: Any = answer_task,
        reflection: FakeModel | None = None, seed: int = 0) -> Outcome:
    task = make_task()
    splits = load_splits(task)
    model = FakeModel(script)

    async def go() -> Outcome:
        options = SearchOptions(seed=seed, limits=Limits(max_calls=max_calls))
        trajectory = Trajectory()
        async with open_search(task, splits, options, model=model, reflection=reflection,
                               callbacks=[trajectory]) as ctx:
            start = task.seed_candidate()
            scored = await ctx.evaluate(start, "val")
            ctx.record(scored, accepted=True, phase="seed")
            error = None
            try:
                await optimizer.search(ctx, start)
            except BudgetExhausted as exc:  # as the driver does
                error = exc
            assert ctx.best is not None
            return Outcome(scored, ctx.best, ctx.rollouts, ctx.service.proposer_calls,
                           trajectory.steps, model, error)

    return asyncio.run(go())


def final_step(out: Outcome) -> dict[str, Any]:
    steps = [s for s in out.steps if s["phase"] == "gepa" and s["note"] != PROGRESS]
    assert len(steps) == 1, out.steps
    assert steps[0]["split"] == "val" and steps[0]["n"] == 6
    return steps[0]


# --- registration and parameters -----------------------------------------------------------
def test_the_registry_builds_it_with_gepas_documented_defaults() -> None:
    from honed.optimizers.gepa_backend import GepaSearch

    optimizer = build_optimizer("gepa")
    assert isinstance(optimizer, GepaSearch) and optimizer.name == "gepa"
    assert "gepa" not in NEEDS_REFLECTION and "gepa" not in NEEDS_DEMO_TARGET
    assert build_optimizer("gepa", {"components": ["system"]}).components == ("system",)


@needs_gepa
def test_the_defaults_are_gepas_own() -> None:
    import gepa

    from honed.optimizers.gepa_backend import GepaSearch

    theirs = inspect.signature(gepa.optimize).parameters
    ours = GepaSearch().model_dump()
    shared = set(ours) & set(theirs)
    assert len(shared) == len(ours) - 1  # all but ``components``, honed's own
    for name in shared - {"reflection_minibatch_size"}:
        assert ours[name] == theirs[name].default, name
    assert ours["reflection_minibatch_size"] == 3  # gepa: None, which means 3


@pytest.mark.parametrize(("params", "field", "text"), [
    ({"components": ["system", "system"]}, "optimizer", "twice"),
    ({"components": []}, "optimizer.components", "at least 1"),
    ({"candidate_selection_strategy": "best"}, "optimizer.candidate_selection_strategy",
     "'pareto'"),
    ({"max_metric_calls": 0}, "optimizer.max_metric_calls", "greater than or equal to 1"),
    ({"use_mrege": True}, "optimizer.use_mrege", "did you mean 'use_merge'?"),
])
def test_bad_params_are_config_errors(params: dict[str, Any], field: str, text: str) -> None:
    with pytest.raises(ConfigError) as info:
        build_optimizer("gepa", params)
    assert info.value.field == field and text in f"{info.value} {info.value.fix}"


def test_a_missing_gepa_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    from honed.optimizers.gepa_backend import INSTALL, load_gepa

    monkeypatch.setitem(sys.modules, "gepa", None)  # makes ``import gepa`` raise ImportError
    with pytest.raises(ConfigError) as info:
        load_gepa()
    assert info.value.fix is not None and info.value.fix.startswith(INSTALL)


# --- the mapping between GEPA's texts and honed's candidates --------------------------------
def test_texts_keep_placeholders_and_leave_unknown_braces_literal() -> None:
    from honed.optimizers.gepa_backend import Texts

    seed = Candidate({"system": "Label it.", "user": "Review: {text}"}, ("d1",))
    texts = Texts.of(seed, ["system", "user"])
    assert texts.inputs == ("text",)
    assert texts.candidate(texts.gepa_seed()) == seed
    made = texts.candidate({"system": "Say {label} for {text}; JSON {\"a\": 1}.",
                            "user": "R: {text}"})
    assert made == Candidate({"system": "Say {{label}} for {text}; JSON {\"a\": 1}.",
                              "user": "R: {text}"}, ("d1",))
    assert texts.missing(made) == []
    assert texts.missing(texts.candidate({"system": "x", "user": "Answer."})) == ["text"]


# --- end to end ------------------------------------------------------------------------------
@needs_gepa
def test_gepa_finds_the_instruction_with_the_reflection_model() -> None:
    reflection = FakeModel(reflect)
    out = run(build_optimizer("gepa"), max_calls=60, reflection=reflection)
    assert out.seed.score == pytest.approx(1 / 3) and out.error is None
    assert out.best.score == 1.0 and out.best.candidate.system == MAGIC
    assert out.best.candidate.user == "{text}" and out.best.candidate.demos == ()
    step = final_step(out)
    assert step["accepted"] and "max_metric_calls=54" in step["note"]
    assert "new system" in step["note"] and "GEPA val 1.000" in step["note"]
    assert out.rollouts <= 60
    assert reflection.calls and out.proposer_calls >= len(reflection.calls)
    assert not any(REFLECTION in last_user(r) for r in out.task_model.calls)
    feedback = "\n".join(last_user(r) for r in reflection.calls)
    assert "exact_match" in feedback and "great thing number" in feedback, \
        "honed's eval feedback and the inputs reach the reflection"
    points = [s for s in out.steps if s["note"] == PROGRESS]
    assert len(points) >= 2 and all(p["n"] == 6 and not p["accepted"] for p in points)
    assert [p["rollouts"] for p in points] == sorted(p["rollouts"] for p in points)
    assert points[-1]["best_so_far"] == 1.0


@needs_gepa
def test_gepa_reflects_with_the_task_model_and_prints_nothing(
        capfd: pytest.CaptureFixture[str]) -> None:
    out = run(build_optimizer("gepa"), max_calls=60, script=scripted)
    assert out.best.score == 1.0 and out.best.candidate.system == MAGIC
    assert any(REFLECTION in last_user(r) for r in out.task_model.calls)
    reflections = [r for r in out.task_model.calls if REFLECTION in last_user(r)]
    assert all(r.max_tokens == 256 and r.seed is not None for r in reflections)
    assert out.proposer_calls == len(reflections) and out.rollouts <= 60
    assert capfd.readouterr() == ("", "")  # no progress bars, prints or log lines


@needs_gepa
def test_a_seed_gives_one_run() -> None:
    def key(out: Outcome) -> Any:
        return ([(s["phase"], s["score"], s["rollouts"], s["note"]) for s in out.steps],
                out.best.candidate, out.rollouts)

    first = run(build_optimizer("gepa", use_merge=True), max_calls=90,
                reflection=FakeModel(reflect))
    again = run(build_optimizer("gepa", use_merge=True), max_calls=90,
                reflection=FakeModel(reflect))
    assert key(first) == key(again)


@needs_gepa
@pytest.mark.parametrize("max_calls", [26, 33, 47, 83])
@pytest.mark.parametrize("params", [{}, {"use_merge": True, "module_selector": "all"},
                                    {"frontier_type": "objective"}],
                         ids=["defaults", "merge-all", "objective"])
def test_gepa_never_exceeds_max_calls(max_calls: int, params: dict[str, Any]) -> None:
    reflection = FakeModel(useless)
    out = run(build_optimizer("gepa", params), max_calls=max_calls, reflection=reflection)
    assert out.error is None and out.rollouts <= max_calls
    assert len(out.task_model.calls) + len(reflection.calls) <= max_calls
    assert "stopped" in final_step(out)["note"]


@needs_gepa
def test_too_small_a_budget_raises_before_gepa_starts() -> None:
    out = run(build_optimizer("gepa"), max_calls=18, reflection=FakeModel(reflect))
    assert isinstance(out.error, BudgetExhausted) and "at least 19" in str(out.error)
    assert out.rollouts == 6 and len(out.task_model.calls) == 6


@needs_gepa
def test_a_budget_cut_inside_an_iteration_ends_with_gepas_best_so_far(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from honed.optimizers.gepa_backend import GepaSearch

    plan = GepaSearch._plan

    def no_margin(self: GepaSearch, ctx: Any, n: int) -> tuple[int, int]:
        return plan(self, ctx, n)[0], 0  # the stop callback never fires: the budget cuts

    monkeypatch.setattr(GepaSearch, "_plan", no_margin)
    reflection = FakeModel(reflect)
    out = run(build_optimizer("gepa"), max_calls=40, reflection=reflection)
    assert out.error is None and out.rollouts <= 40
    step = final_step(out)
    assert "stopped by the budget (max_calls)" in step["note"]
    assert out.best.score == 1.0 and out.best.candidate.system == MAGIC


@needs_gepa
def test_a_user_template_that_loses_its_placeholder_is_never_run() -> None:
    def drop(request: Request) -> str:
        return "```\nJust answer.\n```"

    reflection = FakeModel(drop)
    out = run(build_optimizer("gepa", components=["user"]), max_calls=40,
              reflection=reflection)
    assert out.error is None and out.best.candidate == out.seed.candidate
    assert reflection.calls
    assert all("thing number" in last_user(r) for r in out.task_model.calls)
    prompt = last_user(reflection.calls[0])
    assert "must contain {text} exactly as written" in prompt
