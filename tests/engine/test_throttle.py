"""Calls in flight that adapt to rate limits: the limiter alone, then a real client against a
loopback server that rate-limits beyond four requests at once."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from honed.engine.throttle import AdaptiveLimit


def test_a_burst_of_429s_from_one_round_halves_the_limit_once() -> None:
    async def go() -> AdaptiveLimit:
        limit = AdaptiveLimit(16)
        round_one = [await limit.acquire() for _ in range(16)]
        for ticket in round_one:  # sixteen 429s from the same window
            limit.throttled(ticket)
        assert (limit.limit, limit.cuts) == (8, 1)
        for ticket in round_one:
            limit.release(ticket)
        second = await limit.acquire()  # admitted after the cut: may cut again
        limit.throttled(second)
        limit.release(second)
        return limit

    limit = asyncio.run(go())
    assert (limit.limit, limit.cuts, limit.lowest) == (4, 2, 4)


def test_successes_raise_the_limit_back_to_the_ceiling_and_never_past() -> None:
    limit = AdaptiveLimit(4)
    limit.limit = 1
    for _ in range(1 + 2 + 3):  # one window of successes per step: 1 -> 2 -> 3 -> 4
        limit.succeeded()
    assert limit.limit == 4
    for _ in range(50):
        limit.succeeded()
    assert limit.limit == 4 and AdaptiveLimit(0).limit == 1


def test_waiters_get_slots_as_they_free_and_a_cancelled_waiter_passes_its_turn() -> None:
    async def go() -> list[str]:
        limit, order = AdaptiveLimit(1), []
        held = await limit.acquire()

        async def worker(name: str) -> None:
            ticket = await limit.acquire()
            order.append(name)
            await asyncio.sleep(0)
            limit.release(ticket)

        doomed = asyncio.create_task(worker("cancelled"))
        waiting = asyncio.create_task(worker("next"))
        await asyncio.sleep(0)
        limit.release(held)  # wakes the first waiter...
        doomed.cancel()  # ...which is cancelled before it runs
        await asyncio.wait_for(waiting, 2)
        assert limit.in_flight == 0
        return order

    assert asyncio.run(go()) == ["next"]


@pytest.mark.parametrize("concurrency", [16])
def test_a_client_backs_off_a_provider_that_allows_four_at_once(concurrency: int) -> None:
    """64 calls at concurrency 16 against a server that answers 429 beyond 4 in flight: every
    call succeeds, the limit comes down, and the 429s stop piling up."""
    from honed.engine.budget import Budget, Limits
    from honed.engine.client import ModelClient
    from honed.engine.retry import RetryPolicy
    from honed.providers.base import Request
    from honed.providers.fake_server import FakeServer
    from honed.providers.openai_compat import OpenAICompatModel
    from honed.task.task import ModelConfig
    from honed.types import Message

    async def go(url: str) -> tuple[list[str], Any]:
        model = OpenAICompatModel(ModelConfig(spec="openai:fake", base_url=url,
                                              api_key_env="HONED_TEST_KEY"))
        client = ModelClient(model, Budget(Limits()), retry=RetryPolicy(max_retries=8),
                             concurrency=concurrency)
        try:
            replies = await asyncio.gather(*(client.complete(Request(
                (Message("user", f"q{i}"),), 0.0, 8)) for i in range(64)))
        finally:
            await client.aclose()
        return [r.text for r in replies], client

    with pytest.MonkeyPatch.context() as env:
        env.setenv("HONED_TEST_KEY", "k")
        with FakeServer(latency_s=0.05, max_in_flight=4) as server:
            texts, client = asyncio.run(go(server.url))
            limited, handled, peak = server.rate_limited, server.count, server.peak_in_flight
    assert sorted(texts) == sorted(f"q{i}" for i in range(64))
    assert client.stats.failures == 0 and client.stats.throttled >= 1
    assert client.limit.lowest <= 4 and handled == 64 and peak <= 4
    assert limited == client.stats.retries and limited < 64  # not a 429 per call


def test_the_rate_limit_benchmark_runs_small(tmp_path) -> None:
    import json
    import subprocess
    import sys
    from pathlib import Path

    script = Path(__file__).resolve().parents[2] / "benchmarks" / "rate_limit.py"
    out = tmp_path / "rate-limit.json"
    done = subprocess.run([sys.executable, str(script), "--calls", "40", "--out", str(out)],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    rows = json.loads(out.read_text())["results"]
    assert rows["adaptive"]["failed"] == 0 and rows["adaptive"]["halved"] >= 1
    assert rows["fixed"]["halved"] == 0 and rows["fixed"]["lowest_limit"] == 16
    assert rows["adaptive"]["rate_limited_429"] < rows["fixed"]["rate_limited_429"]
