"""MicroBatcher: concurrent greedy requests reach a batching model together."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest

from honed.engine.budget import Budget, Limits
from honed.engine.client import ModelClient
from honed.errors import BudgetExhausted
from honed.providers.base import Request
from honed.providers.batcher import MicroBatcher
from honed.providers.fake import FakeBatchModel, FakeModel
from honed.providers.model_server import ModelServer
from honed.types import Message


def request(text: str, temperature: float = 0.0) -> Request:
    return Request((Message("user", text),), temperature=temperature)


def test_concurrent_requests_form_one_batch_and_each_gets_its_answer() -> None:
    model = FakeBatchModel(lambda r: r.messages[-1].content.upper())
    batcher = MicroBatcher(ModelClient(model, Budget()))

    async def go() -> list[str]:
        done = await asyncio.gather(*(batcher.complete(request(f"q{i}")) for i in range(10)))
        return [c.text for c in done]

    assert asyncio.run(go()) == [f"Q{i}" for i in range(10)]
    assert model.batches == [10] and batcher.batches == 1


def test_requests_arriving_during_a_batch_form_the_next_one() -> None:
    model = FakeBatchModel(lambda r: "ok", latency_s=0.05)
    batcher = MicroBatcher(ModelClient(model, Budget()), max_batch=4)

    async def go() -> None:
        first = [asyncio.create_task(batcher.complete(request(f"a{i}"))) for i in range(6)]
        await asyncio.sleep(0.02)  # the first batch (4 of 6) is running
        later = [asyncio.create_task(batcher.complete(request(f"b{i}"))) for i in range(3)]
        await asyncio.gather(*first, *later)

    asyncio.run(go())
    assert model.batches == [4, 4, 1]  # at most max_batch at a time, in arrival order
    assert [c.messages[0].content for c in model.calls][4:6] == ["a4", "a5"]


def test_sampled_requests_are_not_batched() -> None:
    model = FakeBatchModel("ok")
    batcher = MicroBatcher(ModelClient(model, Budget()))

    async def go() -> None:
        await asyncio.gather(*(batcher.complete(request(f"q{i}", 0.7)) for i in range(3)))

    asyncio.run(go())
    assert model.batches == [] and len(model.calls) == 3


def test_each_caller_gets_its_own_budget_error() -> None:
    model = FakeBatchModel("ok")
    batcher = MicroBatcher(ModelClient(model, Budget(Limits(max_calls=2))))

    async def go() -> list[object]:
        return await asyncio.gather(*(batcher.complete(request(f"q{i}")) for i in range(3)),
                                    return_exceptions=True)

    out = asyncio.run(go())
    assert [type(o).__name__ for o in out] == ["Completion", "Completion", "BudgetExhausted"]
    assert isinstance(out[2], BudgetExhausted)


def test_a_failed_batch_fails_every_caller() -> None:
    class Broken(FakeBatchModel):
        async def complete_batch(self, requests):  # type: ignore[no-untyped-def]
            raise RuntimeError("boom")

    batcher = MicroBatcher(ModelClient(Broken("x"), Budget()))

    async def go() -> list[object]:
        return await asyncio.gather(*(batcher.complete(request(f"q{i}")) for i in range(2)),
                                    return_exceptions=True)

    assert [str(o) for o in asyncio.run(go())] == ["boom", "boom"]


@pytest.mark.parametrize("batching", [True, False])
def test_the_model_server_batches_concurrent_http_requests(batching: bool) -> None:
    model = FakeBatchModel("ok") if batching else FakeModel("ok")

    async def go() -> None:
        async with ModelServer(ModelClient(model, Budget())) as server, \
                aiohttp.ClientSession() as http:
            headers = {"Authorization": f"Bearer {server.token}"}

            async def post(i: int) -> str:
                body = {"model": "m", "messages": [{"role": "user", "content": f"q{i}"}]}
                async with http.post(server.url + "/chat/completions", json=body,
                                     headers=headers) as resp:
                    return (await resp.json())["choices"][0]["message"]["content"]

            assert await asyncio.gather(*(post(i) for i in range(8))) == ["ok"] * 8
            assert (server.batcher is not None) is batching

    asyncio.run(go())
    assert len(model.calls) == 8
    if batching:
        assert sum(model.batches) == 8 and len(model.batches) < 8
