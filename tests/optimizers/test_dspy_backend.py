"""DSPy backends end to end on local fakes: MIPROv2, GEPA and BootstrapFewShotWithRandomSearch.

The scripted task model answers a review's label only when the system prompt carries ``MAGIC`` or
a demo shows that label; else it says "positive" (1/3 right). It also answers DSPy's own prompts
(MIPRO's proposer, GEPA's reflection) by putting ``MAGIC`` in every instruction-like field.
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import re
import sys
from dataclasses import dataclass
from typing import Any

import pytest

import honed
from honed.engine.budget import Limits
from honed.errors import BudgetExhausted, ConfigError
from honed.optimizers.base import Optimizer, Scored
from honed.optimizers.dspy_backend import (
    INSTALL,
    DspyBootstrapRS,
    DspyGepa,
    DspyMipro,
    build_spec,
    load_dspy,
    to_candidate,
)
from honed.optimizers.registry import build_optimizer
from honed.optimizers.session import SearchOptions, open_search
from honed.providers.base import Request
from honed.providers.fake import FakeBatchModel, FakeModel, last_user
from honed.task.config import load_splits
from honed.task.render import render_messages
from honed.tracking.events import EvalFinished, EvalStarted, Event
from honed.tracking.recorder import Trajectory
from honed.types import Candidate, Example

needs_dspy = pytest.mark.skipif(importlib.util.find_spec("dspy") is None
                                or importlib.util.find_spec("optuna") is None,
                                reason="the dspy extra is not installed")

MAGIC = "Reply with the sentiment of the review: positive, negative or neutral."
WORDS = {"positive": "great", "negative": "awful", "neutral": "blue"}


def rows(n: int, offset: int = 0) -> list[dict[str, str]]:
    labels = list(WORDS)
    return [{"text": f"{WORDS[labels[i % 3]]} thing number {offset + i}",
             "label": labels[i % 3]} for i in range(n)]


def make_task(system: str = "Classify the review.", user: str = "{text}") -> honed.Task:
    return honed.Task(name="review_sentiment", model="fake",
                      prompt={"system": system, "user": user},
                      data={"train": rows(12), "val": rows(6, 100), "test": rows(3, 200)},
                      evals=[{"type": "exact_match", "expected": "{label}"}],
                      output={"choices": list(WORDS)})


def system_of(request: Request) -> str:
    return next((m.content for m in request.messages if m.role == "system"), "")


def dspy_meta_answer(request: Request) -> str | None:
    """Answer a prompt DSPy wrote for itself (chat or JSON format), else None."""
    system = system_of(request)
    if "Your output fields are:" not in system:
        return None
    section = system.split("Your output fields are:", 1)[1].split("All interactions", 1)[0]
    fields = re.findall(r"\d+\. `(\w+)`", section)
    values = {f: MAGIC if "instruction" in f else f"some {f}" for f in fields}
    if "[[ ## completed ## ]]" in system:
        return "".join(f"[[ ## {k} ## ]]\n{v}\n\n" for k, v in values.items()) + \
            "[[ ## completed ## ]]"
    return json.dumps(values)


def truth(text: str) -> str:
    return next(label for label, word in WORDS.items() if word in text)


def answer_task(request: Request) -> str:
    label = truth(last_user(request))
    shown = {m.content for m in request.messages if m.role == "assistant"}
    return label if MAGIC in system_of(request) or label in shown else "positive"


def scripted(request: Request) -> str:
    return dspy_meta_answer(request) or answer_task(request)


@dataclass
class Outcome:
    seed: Scored
    best: Scored
    rollouts: int
    steps: list[dict[str, Any]]
    train_ids: set[str]
    task_model: FakeModel
    verify_calls: int | None  # model calls the final verification on val needed
    error: BudgetExhausted | None = None


def run(optimizer: Optimizer, *, max_calls: int | None, script: Any = scripted,
        reflection: FakeModel | None = None, batching: bool = False, seed: int = 0,
        task: honed.Task | None = None) -> Outcome:
    task = task or make_task()
    splits = load_splits(task)
    model = FakeBatchModel(script) if batching else FakeModel(script)
    marks: dict[str, int] = {}

    def watch(event: Event) -> None:  # model calls made during each val evaluation
        if isinstance(event, EvalStarted) and event.label == "val":
            marks[event.candidate_id] = len(model.calls)
        elif isinstance(event, EvalFinished) and event.label == "val":
            marks[event.candidate_id] = len(model.calls) - marks[event.candidate_id]

    async def go() -> Outcome:
        options = SearchOptions(seed=seed, limits=Limits(max_calls=max_calls))
        trajectory = Trajectory()
        async with open_search(task, splits, options, model=model, reflection=reflection,
                               callbacks=[watch, trajectory]) as ctx:
            start = task.seed_candidate()
            scored = await ctx.evaluate(start, "val")
            ctx.record(scored, accepted=True, phase="seed")
            error = None
            try:
                await optimizer.search(ctx, start)
            except BudgetExhausted as exc:  # as the driver does
                error = exc
            assert ctx.best is not None
            return Outcome(scored, ctx.best, ctx.rollouts,
                           trajectory.steps, {ex.id for ex in splits.train}, model,
                           marks.get(ctx.best.candidate.id), error)

    return asyncio.run(go())


PROGRESS = "DSPy's own evaluation on val"


def dspy_step(outcome: Outcome, phase: str) -> dict[str, Any]:
    """The step of honed's verification of DSPy's result."""
    steps = [s for s in outcome.steps if s["phase"] == phase and s["note"] != PROGRESS]
    assert len(steps) == 1, outcome.steps
    assert steps[0]["split"] == "val" and steps[0]["n"] == 6
    return steps[0]


def test_the_registry_builds_all_three_without_arguments() -> None:
    for name, cls in [("dspy:mipro", DspyMipro), ("dspy:gepa", DspyGepa),
                      ("dspy:bootstrap-rs", DspyBootstrapRS)]:
        optimizer = build_optimizer(name)
        assert isinstance(optimizer, cls) and optimizer.name == name


def test_a_missing_dspy_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "dspy", None)  # makes ``import dspy`` raise ImportError
    with pytest.raises(ConfigError) as info:
        load_dspy()
    assert info.value.fix == INSTALL == "pip install 'honed[dspy]'"


@needs_dspy
def test_mipro_finds_the_instruction_and_demos() -> None:
    out = run(DspyMipro(), max_calls=100)
    assert out.seed.score == pytest.approx(1 / 3)
    assert out.best.score == 1.0
    step = dspy_step(out, "dspy:mipro")
    assert step["accepted"] and "num_candidates=" in step["note"]
    best = out.best.candidate
    assert best.user == "{text}" and (best.system == MAGIC or best.demos)
    assert set(best.demos) <= out.train_ids
    assert any(MAGIC in system_of(r) for r in out.task_model.calls), "proposed and tried"
    assert out.rollouts <= 100
    assert out.verify_calls == 0  # DSPy sent exactly honed's requests: all cached


@needs_dspy
def test_gepa_rewrites_the_instruction_with_the_reflection_model() -> None:
    reflection = FakeModel(lambda r: dspy_meta_answer(r) or "?")
    out = run(DspyGepa(), max_calls=60, script=answer_task, reflection=reflection)
    assert out.best.score == 1.0 and out.best.candidate.system == MAGIC
    assert out.best.candidate.demos == ()
    assert "max_metric_calls=" in dspy_step(out, "dspy:gepa")["note"]
    assert reflection.calls, "GEPA reflects with the reflection model"
    assert not any(dspy_meta_answer(r) for r in out.task_model.calls)
    feedback = "\n".join(m.content for r in reflection.calls for m in r.messages)
    assert "exact_match" in feedback, "honed's eval feedback reaches the reflection"
    assert out.rollouts <= 60 and out.verify_calls == 0


@needs_dspy
def test_gepa_reflects_with_the_task_model_and_prints_nothing(
        capfd: pytest.CaptureFixture[str]) -> None:
    out = run(DspyGepa(), max_calls=60)
    assert out.best.score == 1.0 and out.best.candidate.system == MAGIC
    assert any(dspy_meta_answer(r) for r in out.task_model.calls)
    assert capfd.readouterr() == ("", "")  # no progress bars, prints or log lines


@needs_dspy
def test_bootstrap_random_search_finds_demos() -> None:
    out = run(DspyBootstrapRS(), max_calls=60)
    assert out.best.score == 1.0
    assert out.best.candidate.system == "Classify the review."
    assert out.best.candidate.demos and set(out.best.candidate.demos) <= out.train_ids
    assert "num_candidate_programs=" in dspy_step(out, "dspy:bootstrap-rs")["note"]
    assert out.rollouts <= 60 and out.verify_calls == 0
    # every program DSPy scored on all of val is a point of the best-so-far curve
    points = [s for s in out.steps if s["note"] == PROGRESS]
    assert len(points) >= 2 and all(p["n"] == 6 and not p["accepted"] for p in points)
    assert [p["rollouts"] for p in points] == sorted(p["rollouts"] for p in points)
    assert points[-1]["best_so_far"] == 1.0


@needs_dspy
def test_bootstrap_random_search_depends_on_the_run_seed_alone() -> None:
    demos = {seed: run(DspyBootstrapRS(), max_calls=60, seed=seed).best.candidate.demos
             for seed in (0, 1, 2)}
    assert run(DspyBootstrapRS(), max_calls=60, seed=1).best.candidate.demos == demos[1]
    assert len(set(demos.values())) > 1, demos  # seeds shuffle the trainset it samples from


@needs_dspy
def test_a_batching_model_gets_dspys_concurrent_calls_in_batches() -> None:
    out = run(DspyBootstrapRS(), max_calls=60, batching=True)
    assert out.best.score == 1.0 and out.rollouts <= 60
    batches = out.task_model.batches  # type: ignore[attr-defined]
    assert max(batches) > 1, batches  # DSPy's threads were served together


@needs_dspy
def test_a_budget_cut_stops_dspy_cleanly_with_the_best_candidate_seen() -> None:
    out = run(DspyBootstrapRS(num_candidate_programs=8), max_calls=40)
    assert out.error is None and out.rollouts <= 40
    step = dspy_step(out, "dspy:bootstrap-rs")
    assert "stopped by the budget (max_calls)" in step["note"]
    assert out.best.score == 1.0


@needs_dspy
def test_mipro_salvages_a_proposer_reply_without_dspys_field_headers() -> None:
    def tiny(request: Request) -> str:  # a small model: plain text, none of DSPy's formats
        return MAGIC if dspy_meta_answer(request) else answer_task(request)

    out = run(DspyMipro(), max_calls=100, script=tiny)
    assert out.error is None
    assert out.best.score == 1.0 and out.best.candidate.system == MAGIC


@needs_dspy
def test_too_small_a_budget_raises_before_dspy_starts() -> None:
    out = run(DspyMipro(), max_calls=15)  # the seed took 6; 9 left < 2 val evaluations
    assert isinstance(out.error, BudgetExhausted) and out.rollouts == 6
    assert len(out.task_model.calls) == 6


@needs_dspy
def test_dspy_renders_the_messages_honeds_engine_renders() -> None:
    dspy = load_dspy()
    task = make_task(system="Label reviews like {text}.", user="Review: {text}")
    seed = task.seed_candidate()
    spec, _ = build_spec(dspy, task, seed)
    train = [Example(f"t{i}", row) for i, row in enumerate(rows(3))]
    demos = [spec.example(dspy, ex) for ex in train[:2]]
    inputs = {"text": train[2].fields["text"]}
    ours = spec.messages(seed.system, demos, inputs)
    theirs = render_messages(seed.with_demos(("t0", "t1")), train[2],
                             {ex.id: ex for ex in train}, task.target_template())
    assert tuple(ours) == theirs


@needs_dspy
def test_dspy_results_map_back_to_a_honed_candidate() -> None:
    dspy = load_dspy()
    task = make_task()
    seed = task.seed_candidate()
    spec, _ = build_spec(dspy, task, seed)
    train = [Example(f"t{i}", row) for i, row in enumerate(rows(3))]
    labeled = spec.example(dspy, train[0])
    bootstrapped = dspy.Example(augmented=True, text=train[1].fields["text"], label="wrong")
    stranger = dspy.Example(augmented=True, text="not in train", label="positive")
    candidate, notes = to_candidate(spec, seed, "New {text}, not {label} or {x}.",
                                    [labeled, bootstrapped, stranger, labeled], train)
    assert candidate == Candidate({"system": "New {text}, not {{label}} or {{x}}.",
                                   "user": "{text}"}, ("t0", "t1"))
    assert any("1 demo(s) dropped" in n for n in notes)
    assert any("1 bootstrapped demo answer(s)" in n for n in notes)
    unchanged, _ = to_candidate(spec, seed, spec.instructions, [], train)
    assert unchanged == seed


@needs_dspy
def test_a_seed_without_system_prompt_stays_without_one() -> None:
    dspy = load_dspy()
    task = make_task()
    seed = Candidate({"system": "", "user": "{text}"})
    spec, signature = build_spec(dspy, task, seed)
    assert signature.instructions == spec.default != ""
    messages = spec.messages(signature.instructions, [], {"text": "great"})
    assert [m.role for m in messages] == ["user"]
    assert to_candidate(spec, seed, signature.instructions, [], [])[0] == seed


@needs_dspy
@pytest.mark.slow
@pytest.mark.parametrize("optimizer", [DspyMipro(), DspyGepa(), DspyBootstrapRS()],
                         ids=lambda o: o.name)
def test_without_a_call_limit_dspy_runs_its_defaults(optimizer: Optimizer) -> None:
    out = run(optimizer, max_calls=None)
    assert out.best.score == 1.0 and out.error is None
    note = dspy_step(out, optimizer.name)["note"]
    assert "auto=light" in note or "num_candidate_programs=16" in note


@needs_dspy
def test_inline_seed_demos_reach_dspy_and_come_back() -> None:
    """A seed whose demos are written inline in the task (not train rows): DSPy's program starts
    with them and its result keeps them, so GEPA (which rewrites instructions only) returns
    the seed's demos, not a prompt without them."""
    inline = [{"text": f"{word} sample", "label": label} for label, word in WORDS.items()]
    task = make_task()
    task = honed.Task(name=task.name, model="fake",
                      prompt={"system": "Classify the review.", "user": "{text}",
                              "demos": inline},
                      data={"train": rows(12), "val": rows(6, 100), "test": rows(3, 200)},
                      evals=[{"type": "exact_match", "expected": "{label}"}],
                      output={"choices": list(WORDS)})
    out = run(DspyGepa(), max_calls=60, task=task)
    seed_demos = task.seed_candidate().demos
    assert len(seed_demos) == 3 and not set(seed_demos) & out.train_ids
    assert out.seed.score == 1.0  # every label is shown: the scripted model answers right
    step = dspy_step(out, "dspy:gepa")
    assert "3 demos" in step["note"] and "dropped" not in step["note"]
    assert out.best.candidate.demos == seed_demos
