"""Reflection calls are priced at their worst case before they start, as task-model calls are,
so a USD limit holds with a paid reflection model too."""

from __future__ import annotations

import asyncio

import pytest

import honed
from honed.engine.budget import Limits
from honed.engine.session import EngineOptions, open_service
from honed.errors import BudgetExhausted
from honed.providers.fake import FakeModel
from honed.task.config import load_splits
from honed.types import Message

PRICE = {"input_per_mtok": 100.0, "output_per_mtok": 400.0}  # USD per million tokens


def task() -> honed.Task:
    rows = [{"text": f"t{i}", "label": "a"} for i in range(6)]
    return honed.Task(name="priced", model="fake", prompt={"system": "S.", "user": "{text}"},
                      data={"train": rows[:2], "val": rows[2:4], "test": rows[4:]},
                      evals=[{"type": "exact_match", "expected": "{label}"}],
                      pricing={"openai:reflector": PRICE})


async def propose(max_usd: float, reflector: FakeModel) -> tuple[str | None, float]:
    t = task()
    options = EngineOptions(limits=Limits(max_usd=max_usd), cache=False)
    async with open_service(t, load_splits(t), options, model=FakeModel(lambda r: "a"),
                            proposer_model=reflector) as service:
        try:
            text: str | None = await service.propose([Message("user", "improve it")],
                                                     max_tokens=2048)
        except BudgetExhausted as exc:
            assert exc.limit == "max_usd"
            text = None
        return text, service.stats()["cost_usd"]


def test_a_reflection_call_whose_worst_case_exceeds_max_usd_is_not_sent() -> None:
    reflector = FakeModel(lambda r: "a better prompt", spec="openai:reflector")
    # worst case: 2,048 tokens out at $400 per million = $0.82 > $0.50
    text, cost = asyncio.run(propose(0.50, reflector))
    assert text is None and reflector.calls == [] and cost == 0.0


def test_a_reflection_call_that_fits_is_sent_and_charged() -> None:
    reflector = FakeModel(lambda r: "a better prompt", spec="openai:reflector",
                          cost_per_call=0.01)
    text, cost = asyncio.run(propose(1.00, reflector))
    assert text == "a better prompt" and len(reflector.calls) == 1
    assert cost == pytest.approx(0.01)
