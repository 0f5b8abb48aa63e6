"""FinalSelect: the winner is chosen on val plus unused train examples, the seed included."""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import honed
from honed.engine.budget import Limits
from honed.errors import BudgetExhausted
from honed.optimizers.auto import SMALL, AutoSearch, schedule
from honed.optimizers.base import SearchContext
from honed.optimizers.select import FinalSelect, label_mix
from honed.optimizers.session import SearchOptions, open_search
from honed.providers.base import Request
from honed.providers.fake import FakeModel, last_user
from honed.task.config import load_splits
from honed.tracking.recorder import Trajectory
from honed.types import Candidate


def rows(n: int, split: str) -> list[dict[str, str]]:
    return [{"text": f"{split} item {i}", "label": "yes"} for i in range(n)]


def system_of(request: Request) -> str:
    return next((m.content for m in request.messages if m.role == "system"), "")


def item(text: str) -> tuple[str, int]:
    found = re.search(r"(train|val|test) item (\d+)", text)
    assert found, text
    return found[1], int(found[2])


def script(request: Request) -> str:
    """LUCKY is right on every val example and no train one; GOOD on 4 in 5 everywhere;
    anything else (the seed) on every other one; LIKE_SEED on all of val, else as the seed."""
    system = system_of(request)
    split, number = item(last_user(request))
    if system == "LUCKY":
        right = split == "val"
    elif system == "LIKE_SEED":  # right on all of val, like the seed anywhere else
        right = split == "val" or number % 2 == 0
    elif system == "GOOD":
        right = number % 5 != 0
    else:
        right = number % 2 == 0
    return "yes" if right else "no"


Body = Callable[[SearchContext, Candidate], Any]


@dataclass
class Outcome:
    ctx: SearchContext
    best: str  # the best candidate's system prompt
    steps: list[dict[str, Any]]


def run(body: Body, *, max_calls: int | None = None, train: int = 30,
        model: FakeModel | None = None) -> Outcome:
    task = honed.Task(name="select", model="fake",
                      prompt={"system": "Answer.", "user": "{text}"},
                      data={"train": rows(train, "train"), "val": rows(10, "val"),
                            "test": rows(2, "test")},
                      evals=[{"type": "exact_match", "expected": "{label}"}])
    options = SearchOptions(limits=Limits(max_calls=max_calls))

    async def go() -> Outcome:
        trajectory = Trajectory()
        async with open_search(task, load_splits(task), options, callbacks=[trajectory],
                               model=model or FakeModel(script)) as ctx:
            seed = task.seed_candidate()
            ctx.record(await ctx.evaluate(seed, "val"), accepted=True, phase="seed")
            with contextlib.suppress(BudgetExhausted):
                await body(ctx, seed)
            assert ctx.best is not None
            return Outcome(ctx, ctx.best.candidate.system, trajectory.steps)

    return asyncio.run(go())


async def try_systems(ctx: SearchContext, seed: Candidate, systems: Sequence[str],
                      demos: tuple[str, ...] = ()) -> None:
    for system in systems:
        candidate = seed.with_components(system=system).with_demos(demos)
        ctx.record(await ctx.evaluate(candidate, "val"), accepted=True, phase="search")
    await FinalSelect().search(ctx, seed)


def test_a_candidate_lucky_on_val_loses_to_one_good_everywhere() -> None:
    out = run(lambda c, s: try_systems(c, s, ["GOOD", "LUCKY"]))
    assert out.best == "GOOD"
    step = out.steps[-1]
    assert step["phase"] == "select" and "unused train examples" in step["note"]


def test_the_seed_comes_back_when_the_search_only_found_val_noise() -> None:
    assert run(lambda c, s: try_systems(c, s, ["LUCKY"])).best == "Answer."


def test_a_tie_with_the_seed_on_fresh_examples_gives_the_seed_back() -> None:
    out = run(lambda c, s: try_systems(c, s, ["LIKE_SEED"]))
    assert out.best == "Answer." and out.steps[-1]["phase"] == "select"


def test_the_best_on_val_stays_when_it_is_also_best_on_fresh_examples() -> None:
    out = run(lambda c, s: try_systems(c, s, ["GOOD"]))
    assert out.best == "GOOD" and out.steps[-1]["phase"] == "search"


def test_demos_shown_by_a_finalist_are_not_used_to_score_it() -> None:
    model = FakeModel(script)
    shown = [f"train item {i}" for i in range(5)]

    async def body(ctx: SearchContext, seed: Candidate) -> None:
        demos = tuple(ex.id for ex in ctx.examples("train")[:5])
        await try_systems(ctx, seed, ["GOOD", "LUCKY"], demos)

    assert run(body, model=model).steps[-1]["phase"] == "select"
    inputs = [last_user(r) for r in model.calls]
    assert any(text.startswith("train") for text in inputs)
    assert not set(shown) & set(inputs)


def test_too_few_calls_left_changes_nothing() -> None:
    # seed and two candidates on val: 30 calls; 3 x 9 fresh examples would not be enough
    assert run(lambda c, s: try_systems(c, s, ["GOOD", "LUCKY"]), max_calls=57).best == "LUCKY"


def test_auto_ends_with_the_final_selection(monkeypatch) -> None:
    out = run(lambda c, s: AutoSearch().search(c, s), max_calls=400)
    ctx = out.ctx
    assert schedule(ctx)[-1] == ("select", 1.0) and ctx.rollouts <= 400
    monkeypatch.setattr(ctx.service, "_proposer", ctx.service.task_model)  # one proposing
    assert schedule(ctx)[-1] == ("select", 1.0)


def test_a_small_budget_goes_to_demo_search_and_the_final_selection() -> None:
    # val costs 10 calls; 100 calls leave fewer than SMALL_BUDGET val evaluations
    out = run(lambda c, s: AutoSearch().search(c, s), max_calls=100)
    assert schedule(out.ctx) == SMALL and out.ctx.rollouts <= 100
    phases = {step["phase"] for step in out.steps}
    assert {"bootstrap", "screen", "validate"} <= phases and "trial" not in phases


def labelled(n: int, split: str, share_a: float) -> list[dict[str, str]]:
    return [{"text": f"{split} item {i}", "label": "a" if i < n * share_a else "b"}
            for i in range(n)]


def mix_of(train_share_a: float, val_share_a: float) -> dict[str | None, int]:
    task = honed.Task(name="mix", model="fake", prompt={"system": "Answer.", "user": "{text}"},
                      data={"train": labelled(50, "train", train_share_a),
                            "val": labelled(20, "val", val_share_a), "test": rows(2, "test")},
                      evals=[{"type": "exact_match", "expected": "{label}"}])

    async def go() -> dict[str | None, int]:
        async with open_search(task, load_splits(task), SearchOptions(),
                               model=FakeModel(lambda request: "a")) as ctx:
            return dict(label_mix(ctx))

    return asyncio.run(go())


def test_a_val_mix_consistent_with_trains_is_pooled_with_it() -> None:
    assert mix_of(0.5, 0.6) == {"a": 25 + 12, "b": 25 + 8}  # val's 12/8 is noise around 1/2
    assert mix_of(0.8, 0.5) == {"a": 10, "b": 10}  # val differs clearly: its own mix counts


def test_fresh_examples_count_each_label_as_much_as_val_does() -> None:
    """Train is 4/5 "a", val half and half: always answering "a" looks good on train only."""
    def answer(request: Request) -> str:
        split, number = item(last_user(request))
        if system_of(request) == "ALWAYS_A":
            return "a"
        truth = "a" if (split == "train" and number < 40) or (split == "val" and number < 10) \
            else "b"
        return truth if number % 5 < 3 else ("b" if truth == "a" else "a")  # 3 in 5 right

    task = honed.Task(name="select", model="fake", prompt={"system": "Answer.", "user": "{text}"},
                      data={"train": labelled(50, "train", 0.8),
                            "val": labelled(20, "val", 0.5), "test": rows(2, "test")},
                      evals=[{"type": "exact_match", "expected": "{label}"}])

    async def go() -> str:
        async with open_search(task, load_splits(task), SearchOptions(),
                               model=FakeModel(answer)) as ctx:
            seed = task.seed_candidate()
            ctx.record(await ctx.evaluate(seed, "val"), accepted=True, phase="seed")
            await try_systems(ctx, seed, ["ALWAYS_A"])
            assert ctx.best is not None
            return ctx.best.candidate.system

    assert asyncio.run(go()) == "Answer."  # 0.8 on train unweighted, 0.5 weighted, seed 0.6
