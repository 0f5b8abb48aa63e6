"""ParetoSearch: the per-example frontier, reflective and offline mutation, merges, budget."""

from __future__ import annotations

import asyncio
import random
import re
import sys
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

import honed
from honed.engine.budget import Limits
from honed.errors import BudgetExhausted
from honed.optimizers.base import SearchContext
from honed.optimizers.pareto import ParetoSearch, Pool, _Run, offline_mutator, pareto_frontier, pick
from honed.optimizers.session import SearchOptions, open_search
from honed.providers.base import Request
from honed.providers.fake import FakeModel, last_user
from honed.task.config import load_splits
from honed.task.template import variables
from honed.types import Candidate

POS, NEG = ("love", "great", "happy", "perfect"), ("awful", "terrible", "broke", "waste")
FORMAT = "Answer with the label only."
NEG_RULE, NEU_RULE = "Say negative for complaints.", "Say neutral when there is no opinion."
RULES = (FORMAT, NEG_RULE, NEU_RULE)
OVER = "Flag every edge case as unsure."


def rows(pairs: list[tuple[str, str]]) -> list[dict[str, str]]:
    return [{"text": t, "label": label} for t, label in pairs]


TRAIN = rows([("I love it", "positive"), ("great value", "positive"), ("so happy", "positive"),
              ("awful service", "negative"), ("terrible food", "negative"),
              ("broke in a day", "negative"), ("it is blue", "neutral"),
              ("arrives monday", "neutral"), ("made of wood", "neutral")])
VAL = rows([("love the color", "positive"), ("great sound", "positive"),
            ("awful smell", "negative"), ("terrible fit", "negative"),
            ("it is red", "neutral"), ("ships friday", "neutral")])
TEST = rows([("love it all", "positive"), ("broke again", "negative"), ("is green", "neutral")])


def classify(rules: str, text: str) -> str:
    """The scripted task model follows the rules stated anywhere in its prompt."""
    rules_l, text_l = rules.lower(), text.lower()
    if "edge case" in rules_l:
        label = "unsure"
    elif "negative" in rules_l and any(w in text_l for w in NEG):
        label = "negative"
    elif "neutral" in rules_l and not any(w in text_l for w in POS + NEG):
        label = "neutral"
    else:
        label = "positive"
    terse = any(k in rules_l for k in ("label only", "only the label", "exactly one of"))
    return label if terse else f"I think {label}."


def task_model(request: Request) -> str:
    prompt = " ".join(m.content for m in request.messages)
    text = next(row["text"] for row in TRAIN + VAL + TEST if row["text"] in last_user(request))
    return classify(prompt.replace(text, ""), text)


def block(rationale: str, system: str, user: str) -> str:
    return f"<<<RATIONALE\n{rationale}\n>>>\n<<<SYSTEM\n{system}\n>>>\n<<<USER\n{user}\n>>>\n"


def reflector(request: Request) -> str:
    text = last_user(request)
    if "combining two prompts" in text:
        systems = re.findall(r"<<<SYSTEM\n(.*?)\n>>>", text, re.DOTALL)
        return block("union of both rule sets", " ".join(dict.fromkeys(
            " ".join(systems).split(". "))), "{text}")
    match = re.search(r"<<<SYSTEM\n(.*?)\n>>>\s*<<<USER\n(.*?)\n>>>", text, re.DOTALL)
    if match is None:
        return "junk"
    system, user = match.groups()
    missing = [r for r in RULES if r not in system + user]
    if not missing:
        return "Nothing left to improve."
    grown = f"{system} {missing[0]}".strip()
    blocks = [block(f"add {missing[0]}", grown, user),
              block("over-specify", f"{grown} {OVER}", user)]
    shift = (request.seed or 0) % 2
    return "".join(blocks[shift:] + blocks[:shift])


def make_task() -> honed.Task:
    return honed.Task(name="t", model="fake", prompt={"system": "Classify.", "user": "{text}"},
                      data={"train": TRAIN, "val": VAL, "test": TEST},
                      evals=[{"type": "exact_match", "expected": "{label}"}],
                      output={"choices": ["positive", "negative", "neutral"]})


Body = Callable[[SearchContext], Awaitable[Any]]


def with_context(body: Body, *, reflection: Callable[[Request], str] | None = None,
                 max_calls: int | None = None, seed: int = 0) -> tuple[SearchContext, Any]:
    task = make_task()

    async def go() -> tuple[SearchContext, Any]:
        options = SearchOptions(seed=seed, limits=Limits(max_calls=max_calls),
                                minibatch_size=6)
        refl = FakeModel(reflection) if reflection is not None else None
        async with open_search(task, load_splits(task), options, model=FakeModel(task_model),
                               reflection=refl) as ctx:
            start = await ctx.evaluate(task.seed_candidate(), "val")
            ctx.record(start, accepted=True, phase="seed")
            return ctx, await body(ctx)

    return asyncio.run(go())


def run_search(search: ParetoSearch, **kwargs: Any) -> tuple[SearchContext, str | None]:
    async def body(ctx: SearchContext) -> str | None:
        try:
            await search.search(ctx, make_task().seed_candidate())
        except BudgetExhausted as exc:
            return exc.limit
        return None

    return with_context(body, **kwargs)


# frontier ------------------------------------------------------------------------------------
def test_frontier_keeps_per_example_leaders_and_drops_dominated() -> None:
    scores = {
        "seed": {"e1": 0.0, "e2": 0.0, "e3": 1.0, "e4": 0.0},
        "a": {"e1": 1.0, "e2": 0.0, "e3": 1.0, "e4": 0.0},   # dominates seed
        "b": {"e1": 0.0, "e2": 1.0, "e3": 0.5, "e4": 0.0},   # only best on e2
        "c": {"e1": 0.5, "e2": 0.5, "e3": 0.5, "e4": 0.0},   # best nowhere
    }
    assert pareto_frontier(scores) == {"a": 2, "b": 1}
    # ties: both lead; an example nobody gets right is led by nobody
    assert pareto_frontier({"x": {"e": 1.0, "f": 0.0}, "y": {"e": 1.0, "f": 0.0}}) == \
        {"x": 1, "y": 1}
    assert pareto_frontier({"x": {"e": 0.0}}) == {}


def test_parent_selection_is_proportional_to_examples_led() -> None:
    rng = random.Random(0)
    draws = [pick({"a": 3, "b": 1}, rng) for _ in range(4000)]
    assert 0.70 < draws.count("a") / len(draws) < 0.80
    assert [pick({"a": 3, "b": 1}, random.Random(7)) for _ in range(3)] == \
        [pick({"a": 3, "b": 1}, random.Random(7)) for _ in range(3)]


def test_pool_tracks_lineage() -> None:
    pool = Pool()
    pool.parents.update({"b": ("a",), "c": ("b",), "d": ("a",)})
    assert pool.ancestors("c") == {"a", "b"}
    assert pool.related("a", "c") and not pool.related("c", "d")


# search --------------------------------------------------------------------------------------
def test_improves_over_the_seed_with_a_reflection_model() -> None:
    search = ParetoSearch(max_iterations=15)
    ctx, stopped = run_search(search, reflection=reflector)
    assert stopped is None and ctx.best is not None
    assert ctx.history[0].score == 0.0 and ctx.best.score == 1.0
    assert all(rule in ctx.best.candidate.system for rule in RULES)
    assert search.stats.parsed > 0
    front = search.frontier()
    assert front[0]["candidate_id"] == ctx.best.candidate.id
    assert front[0]["leads"] == len(VAL) and len(front) == 1


def test_improves_offline_with_the_mutation_operators() -> None:
    search = ParetoSearch(max_iterations=20)
    ctx, stopped = run_search(search)
    assert stopped is None and ctx.best is not None and ctx.best.score == 1.0
    for scored in ctx.history:
        assert variables(scored.candidate.user) == ["text"]
    assert {r["candidate_id"] for r in search.frontier()} == {ctx.best.candidate.id}


def test_offline_fallback_operators_when_mutations_is_unavailable(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "honed.optimizers.mutations", None)

    async def body(ctx: SearchContext) -> list[Candidate]:
        return offline_mutator(ctx)(make_task().seed_candidate())

    _, children = with_context(body)
    assert children and "Answer with exactly one of: positive, negative, neutral." in \
        children[0].system
    search = ParetoSearch(max_iterations=10)
    ctx, _ = run_search(search)
    assert ctx.best is not None and ctx.best.score == 1.0


def test_merge_combines_two_lineages() -> None:
    a = Candidate({"system": f"{FORMAT} {NEG_RULE}", "user": "{text}"})
    b = Candidate({"system": FORMAT, "user": f"{NEU_RULE}\n{{text}}"})

    async def body(ctx: SearchContext) -> tuple[ParetoSearch, bool | None]:
        search = ParetoSearch()
        run = _Run(search, ctx, make_task().seed_candidate())
        await run.start()
        for cand in (a, b):
            run.pool.add(await ctx.evaluate(cand, "val"), ())
        assert set(run.pool.frontier()) == {a.id, b.id}
        return search, await run.merge_step()

    ctx, (search, merged) = with_context(body)
    assert merged is True
    best = ctx.best
    assert best is not None and best.score == 1.0
    assert best.candidate.system in (a.system, b.system) and NEU_RULE in best.candidate.user
    assert [r["candidate_id"] for r in search.frontier()] == [best.candidate.id]


def test_merge_asks_the_reflection_model_when_crossover_gives_nothing_new() -> None:
    a = Candidate({"system": f"{FORMAT} {NEG_RULE}", "user": "{text}"})
    b = Candidate({"system": f"{FORMAT} {NEU_RULE}", "user": "{text}"})

    async def body(ctx: SearchContext) -> tuple[ParetoSearch, bool | None]:
        search = ParetoSearch()
        run = _Run(search, ctx, make_task().seed_candidate())
        await run.start()
        for cand in (a, b):
            run.pool.add(await ctx.evaluate(cand, "val"), ())
        assert run.crossovers(a, b) == []
        return search, await run.merge_step()

    ctx, (search, merged) = with_context(body, reflection=reflector)
    assert merged is True and search.stats.parsed == 1
    assert ctx.best is not None and ctx.best.score == 1.0
    assert NEG_RULE.rstrip(".") in ctx.best.candidate.system
    assert NEU_RULE.rstrip(".") in ctx.best.candidate.system


def test_same_seed_same_trajectory() -> None:
    runs = [run_search(ParetoSearch(max_iterations=8), reflection=reflector, seed=5)
            for _ in range(2)]
    ids = [[s.candidate.id for s in ctx.history] for ctx, _ in runs]
    assert ids[0] == ids[1] and len(ids[0]) > 1
    assert runs[0][0].rollouts == runs[1][0].rollouts
    offline = [run_search(ParetoSearch(max_iterations=6), seed=2) for _ in range(2)]
    assert [s.candidate.id for s in offline[0][0].history] == \
        [s.candidate.id for s in offline[1][0].history]


@pytest.mark.parametrize("reflection", [reflector, None])
def test_budget_is_respected(reflection: Callable[[Request], str] | None) -> None:
    ctx, stopped = run_search(ParetoSearch(max_iterations=50), reflection=reflection,
                              max_calls=30)
    assert stopped == "max_calls" and ctx.rollouts <= 30
    assert ctx.best is not None
