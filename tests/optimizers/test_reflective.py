"""ReflectiveSearch against a scripted task model whose accuracy depends on the prompt text and
a scripted reflection model that answers in the proposer's block format (and sometimes junk)."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from typing import Any

import pytest

import honed
from honed.engine.budget import Limits
from honed.errors import BadResponseError, BudgetExhausted, ConfigError
from honed.optimizers.base import Scored, SearchContext
from honed.optimizers.reflective import ReflectiveSearch, select, should_accept
from honed.optimizers.session import SearchOptions, open_search
from honed.providers.base import Request
from honed.providers.fake import FakeModel, last_user
from honed.task.config import load_splits
from honed.task.template import variables
from honed.types import Candidate

POS, NEG = ("love", "great", "happy", "perfect"), ("awful", "terrible", "broke", "waste")
FORMAT = "Answer with the label only."
RULES = (FORMAT, "Say negative for complaints.", "Say neutral when there is no opinion.")
OVER = "Flag every edge case as unsure."
BROAD = "Words like great are sarcastic, so they mean negative."
SARCASM = "The phrase yeah right is sarcasm: say negative."
SIGNALS = (("yeah right", "yeah right"), ("sarcastic", "great"))  # (rule word, text word)


def rows(texts: list[tuple[str, str]]) -> list[dict[str, str]]:
    return [{"text": t, "label": label} for t, label in texts]


TRAIN = rows([("I love it", "positive"), ("great value", "positive"),
              ("so happy", "positive"), ("perfect fit", "positive"),
              ("awful service", "negative"), ("terrible food", "negative"),
              ("broke in a day", "negative"), ("waste of money", "negative"),
              ("it is blue", "neutral"), ("arrives monday", "neutral"),
              ("comes in a box", "neutral"), ("made of wood", "neutral")])
VAL = rows([("love the color", "positive"), ("great sound", "positive"),
            ("happy kids", "positive"), ("awful smell", "negative"),
            ("terrible fit", "negative"), ("it is red", "neutral"), ("ships friday", "neutral")])
SARCASTIC_VAL = rows([("yeah right, great job", "negative"),
                      ("great, yeah right", "negative")])
TEST = rows([("love it all", "positive"), ("broke again", "negative"), ("is green", "neutral")])


def classify(system: str, text: str) -> str:
    """The scripted task model: its behaviour follows the rules the system prompt states."""
    sys_l, text_l = system.lower(), text.lower()
    if "edge case" in sys_l:
        label = "unsure"  # over-specified prompts make the model hedge
    elif any(rule in sys_l and word in text_l for rule, word in SIGNALS) or (
            "negative" in sys_l and any(w in text_l for w in NEG)):
        label = "negative"
    elif "neutral" in sys_l and not any(w in text_l for w in POS + NEG):
        label = "neutral"
    else:
        label = "positive"
    return label if "label only" in sys_l or "only the label" in sys_l else f"I think {label}."


def task_model(request: Request) -> str:
    system = next((m.content for m in request.messages if m.role == "system"), "")
    return classify(system, last_user(request))


def current_prompt(text: str) -> tuple[str, str]:
    match = re.search(r"## Current prompt\s*<<<SYSTEM\n(.*?)\n>>>\s*<<<USER\n(.*?)\n>>>", text,
                      re.DOTALL)
    assert match, "the meta-prompt shows the current prompt in blocks"
    return match.group(1), match.group(2)


def block(rationale: str, system: str, user: str) -> str:
    return f"<<<RATIONALE\n{rationale}\n>>>\n<<<SYSTEM\n{system}\n>>>\n<<<USER\n{user}\n>>>\n"


def reflector(request: Request) -> str:
    """Proposes the next missing rule, an over-specified variant and one that drops {text};
    rotates their order by the request seed; junk once every rule is in."""
    text = last_user(request)
    system, user = current_prompt(text)
    missing = [r for r in RULES if r not in system]
    if not missing:
        if "SITUATION:" in text:
            return block("precise sarcasm rule", f"{system} {SARCASM}", user)
        return block("treat great as sarcastic", f"{system} {BROAD}", user)
    grown = f"{system} {missing[0]}".strip()
    blocks = [block(f"add rule: {missing[0]}", grown, user),
              block("over-specify edge cases", f"{grown} {OVER}", user),
              block("drop the input, restate the rule", f"{grown} Be careful.", "Classify.")]
    shift = (request.seed or 0) % len(blocks)
    return "Here you go!\n" + "".join(blocks[shift:] + blocks[:shift]) + "\nHope it helps."


def make_task(val: list[dict[str, str]] = VAL) -> honed.Task:
    return honed.Task(name="t", model="fake", prompt={"system": "Classify.", "user": "{text}"},
                      data={"train": TRAIN, "val": val, "test": TEST},
                      evals=[{"type": "exact_match", "expected": "{label}"}],
                      output={"choices": ["positive", "negative", "neutral"]})


class Recorder:
    """Wraps ``ctx.record`` to keep every recorded step."""

    def __init__(self, ctx: SearchContext) -> None:
        self.steps: list[tuple[Scored, dict[str, Any]]] = []
        self._record = ctx.record
        ctx.record = self  # type: ignore[method-assign]

    def __call__(self, scored: Scored, **kwargs: Any) -> bool:
        self.steps.append((scored, kwargs))
        return self._record(scored, **kwargs)

    def notes(self) -> list[str]:
        return [kw.get("note", "") for _, kw in self.steps]


def run_search(search: ReflectiveSearch, *, task: honed.Task | None = None,
               reflection: Callable[[Request], str] = reflector, max_calls: int | None = None,
               seed: int = 0) -> tuple[SearchContext, Recorder, FakeModel, str | None]:
    task = task or make_task()
    splits = load_splits(task)
    refl = FakeModel(reflection)

    async def go() -> tuple[SearchContext, Recorder, FakeModel, str | None]:
        options = SearchOptions(seed=seed, limits=Limits(max_calls=max_calls))
        async with open_search(task, splits, options, model=FakeModel(task_model),
                               reflection=refl) as ctx:
            start = await ctx.evaluate(task.seed_candidate(), "val")
            ctx.record(start, accepted=True, phase="seed")
            recorder, stopped = Recorder(ctx), None
            try:
                await search.search(ctx, task.seed_candidate())
            except BudgetExhausted as exc:
                stopped = exc.limit
            return ctx, recorder, refl, stopped

    return asyncio.run(go())


def test_improves_val_over_the_seed_and_stops_when_all_pass() -> None:
    search = ReflectiveSearch()
    ctx, rec, refl, stopped = run_search(search)
    assert stopped is None and ctx.best is not None
    assert ctx.history[0].score == 0.0  # the seed: every answer has extra text
    assert ctx.best.score == 1.0 and ctx.best.split == "val"
    assert all(rule in ctx.best.candidate.system for rule in RULES)
    assert OVER not in ctx.best.candidate.system
    # every evaluated candidate keeps the input placeholder and adds no other
    for scored, _ in rec.steps:
        assert variables(scored.candidate.user) == ["text"]
    # the over-specified candidates were evaluated and rejected (a regression)
    over = [kw for s, kw in rec.steps if OVER in s.candidate.system]
    assert over and not any(kw["accepted"] for kw in over)
    assert search.stats.repaired > 0 and search.stats.parsed > 0
    assert len(refl.calls) <= 4  # three rules, then train passes and val passes


def test_memory_lessons_are_recorded_and_shown_to_the_proposer() -> None:
    search = ReflectiveSearch()
    _, _, refl, _ = run_search(search)
    lessons = search.memory.lessons
    assert any(x.startswith("+ add rule: Answer with the label only.") for x in lessons)
    assert any(x.startswith("- over-specify edge cases -> regression") for x in lessons)
    assert len(search.memory.history) >= 3
    second = last_user(refl.calls[1])
    assert "Accumulated lessons:" in second and "+ add rule: Answer with the label only." in second
    assert "Iteration 1 (train): ACCEPTED" in second
    assert "{text}" in second  # the placeholder the proposer must keep


def test_strict_acceptance_at_zero_and_laterals_above() -> None:
    cand = Candidate({"system": "", "user": "{text}"})

    def s(score: float) -> Scored:
        return Scored(cand, "train", score, 10, (0, 1), score, (), 0, 0)

    assert not should_accept(s(0.0), s(0.0)) and should_accept(s(0.1), s(0.0))
    assert should_accept(s(0.5), s(0.5)) and not should_accept(s(0.4), s(0.5))
    assert select(s(0.5), [s(0.4), s(0.6), s(0.6)]) == s(0.6)
    assert select(s(0.0), [s(0.0)]) is None


def test_validation_phase_rejects_train_regressions_and_uses_combined_feedback() -> None:
    search = ReflectiveSearch(candidates_per_iteration=1)
    ctx, rec, refl, _ = run_search(search, task=make_task(VAL + SARCASTIC_VAL))
    assert ctx.best is not None and ctx.best.score == 1.0
    assert SARCASM in ctx.best.candidate.system and BROAD not in ctx.best.candidate.system
    broad = [kw for s, kw in rec.steps if BROAD in s.candidate.system]
    assert broad and all(not kw["accepted"] for kw in broad)
    assert any("broke" in kw["note"] and kw["phase"] == "val" for kw in broad)
    prompts = [last_user(r) for r in refl.calls]
    assert any("Training cases to preserve" in p and "great value" in p for p in prompts)
    assert any("rejected: broke" in x for x in search.memory.lessons)


def test_junk_reflection_is_survived() -> None:
    answers = iter(["no blocks at all", "<<<SYSTEM\n\n>>>", '{"not": "a prompt"}'] * 20)
    search = ReflectiveSearch(patience=2)
    ctx, _, refl, stopped = run_search(search, reflection=lambda r: next(answers))
    assert stopped is None and ctx.best is not None
    assert ctx.best.candidate == make_task().seed_candidate()
    assert search.stats.junk >= 4 and search.stats.parsed == 0
    # patience 2 in each phase (train, then val), each proposal with one retry
    assert len(refl.calls) == 8


def test_failing_reflection_calls_end_the_search_cleanly() -> None:
    def broken(request: Request) -> str:
        # retried at once (retry_after=0): the test is about the search, not the back-off
        raise BadResponseError("the reflection model answered nonsense", retry_after=0.0)

    search = ReflectiveSearch(patience=1)
    ctx, _, _, stopped = run_search(search, reflection=broken)
    assert stopped is None and ctx.best is not None
    assert ctx.best.candidate == make_task().seed_candidate()
    assert search.stats.failed_calls == 4 and search.stats.parsed == 0


def test_same_seed_same_trajectory() -> None:
    first = run_search(ReflectiveSearch(minibatch_size=6), seed=3)
    second = run_search(ReflectiveSearch(minibatch_size=6), seed=3)
    ids = [[s.candidate.id for s, _ in run[1].steps] for run in (first, second)]
    assert ids[0] == ids[1] and len(ids[0]) > 3
    assert first[0].rollouts == second[0].rollouts


@pytest.mark.parametrize("max_calls", [40, 75, 120])
def test_budget_is_respected(max_calls: int) -> None:
    ctx, _, _, stopped = run_search(ReflectiveSearch(), max_calls=max_calls)
    assert stopped == "max_calls"
    assert ctx.rollouts <= max_calls
    assert ctx.best is not None


def test_needs_a_reflection_model() -> None:
    task = make_task()

    async def go() -> None:
        async with open_search(task, load_splits(task), SearchOptions(),
                               model=FakeModel(task_model)) as ctx:
            await ReflectiveSearch().search(ctx, task.seed_candidate())

    with pytest.raises(ConfigError, match="reflection model"):
        asyncio.run(go())
