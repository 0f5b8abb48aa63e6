"""ModelServer: an OpenAI-compatible endpoint for any honed Model (token, mapping, budget)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp

from honed.engine.budget import Budget, Limits
from honed.engine.client import ModelClient
from honed.errors import RateLimitError, TransportError
from honed.providers.base import Completion, OutputSpec, Request
from honed.providers.fake import FakeModel
from honed.providers.model_server import CallQuota, ModelServer, to_request
from honed.types import Message

CHAT = {"model": "m", "messages": [{"role": "user", "content": "hello"}]}

Post = Callable[..., Awaitable[tuple[int, dict[str, Any], Any]]]


def serve(model: Any, test: Callable[[ModelServer, Post], Awaitable[None]],
          **options: Any) -> None:
    async def go() -> None:
        async with ModelServer(model, **options) as server, aiohttp.ClientSession() as http:
            async def post(body: Any, *, token: str | None = server.token,
                           path: str = "/chat/completions") -> tuple[int, dict[str, Any], Any]:
                headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
                async with http.post(server.url + path, json=body, headers=headers) as resp:
                    return resp.status, dict(resp.headers), await resp.json()

            await test(server, post)

    asyncio.run(go())


def test_requires_its_bearer_token() -> None:
    model = FakeModel("hi")

    async def test(server: ModelServer, post: Post) -> None:
        assert server.url.startswith("http://127.0.0.1:") and server.url.endswith("/v1")
        for token in (None, "wrong", ""):
            status, headers, body = await post(CHAT, token=token)
            assert status == 401 and headers["WWW-Authenticate"] == "Bearer"
            assert body["error"]["code"] == "invalid_api_key"
            assert server.token not in str(body)
        assert server.stats.unauthorized == 3 and not model.calls
        status, _, body = await post(CHAT)
        assert status == 200 and body["choices"][0]["message"]["content"] == "hi"

    serve(model, test)


def test_tokens_differ_per_server() -> None:
    assert ModelServer(FakeModel()).token != ModelServer(FakeModel()).token


def test_maps_openai_fields_and_returns_usage() -> None:
    model = FakeModel(lambda r: "pong")
    body = {"model": "anything", "temperature": 0.3, "max_completion_tokens": 7, "stop": "END",
            "seed": 5, "n": 1, "user": "ignored", "messages": [
                {"role": "developer", "content": "Be brief."},
                {"role": "user", "content": [{"type": "text", "text": "he"},
                                             {"type": "text", "text": "llo"}]},
                {"role": "assistant", "content": "hi"},
                {"role": "user", "content": "again"}]}

    async def test(server: ModelServer, post: Post) -> None:
        status, _, data = await post(body)
        assert status == 200
        assert data["model"] == "anything" and data["object"] == "chat.completion"
        assert data["choices"][0] == {"index": 0, "finish_reason": "stop",
                                      "message": {"role": "assistant", "content": "pong"}}
        assert data["usage"] == {"prompt_tokens": 3 + 2 + 1 + 2, "completion_tokens": 1,
                                 "total_tokens": 9}

    serve(model, test)
    assert model.calls == [Request(
        (Message("system", "Be brief."), Message("user", "hello"), Message("assistant", "hi"),
         Message("user", "again")), 0.3, 7, OutputSpec(), ("END",), 5)]


def test_defaults_max_tokens_and_output_spec() -> None:
    spec = OutputSpec(choices=("a", "b"))
    assert to_request(CHAT, spec) == Request((Message("user", "hello"),), 0.0, 256, spec)
    request = to_request({**CHAT, "max_tokens": 9, "stop": ["x", "y"],
                          "response_format": {"type": "json_schema",
                                              "json_schema": {"schema": {"type": "object"}}}},
                         spec)
    assert request.max_tokens == 9 and request.stop == ("x", "y")
    assert request.output == OutputSpec(json_schema={"type": "object"})


def test_bad_requests_are_400_and_never_reach_the_model() -> None:
    model = FakeModel("x")
    bad = [{**CHAT, "n": 2}, {**CHAT, "stream": True}, {**CHAT, "temperature": 3},
           {**CHAT, "max_tokens": 0}, {**CHAT, "messages": []}, {"messages": "hello"},
           {**CHAT, "messages": [{"role": "tool", "content": "x"}]},
           {**CHAT, "messages": [{"role": "user", "content": [{"type": "image_url"}]}]}, [1]]

    async def test(server: ModelServer, post: Post) -> None:
        for body in bad:
            status, _, data = await post(body)
            assert status == 400, body
            assert data["error"]["type"] == "invalid_request_error"

    serve(model, test)
    assert not model.calls


def test_budget_exhausted_is_429_and_every_call_is_counted() -> None:
    model = FakeModel("ok")
    budget = Budget(Limits(max_calls=2))
    client = ModelClient(model, budget)

    async def test(server: ModelServer, post: Post) -> None:
        assert [(await post(CHAT))[0] for _ in range(2)] == [200, 200]
        status, headers, data = await post(CHAT)
        assert status == 429 and "Retry-After" not in headers
        assert data["error"]["type"] == data["error"]["code"] == "budget_exhausted"
        assert "budget exhausted: max_calls" in data["error"]["message"]
        assert server.exhausted == "max_calls"
        assert server.stats.completed == 2 and server.stats.refused == 1

    serve(client, test)
    assert budget.rollouts == 2 and len(model.calls) == 2


def test_a_shared_quota_is_never_overshot_by_concurrent_calls() -> None:
    model = FakeModel("ok", latency_s=0.05)
    quota = CallQuota(3)

    async def test(server: ModelServer, post: Post) -> None:
        async with ModelServer(model, quota=quota) as other, aiohttp.ClientSession() as http:
            async def post_other() -> int:
                async with http.post(other.url + "/chat/completions", json=CHAT,
                                     headers={"Authorization": f"Bearer {other.token}"}) as r:
                    return r.status

            statuses = await asyncio.gather(*[post(CHAT) for _ in range(4)],
                                            *[post_other() for _ in range(4)])
        codes = [s if isinstance(s, int) else s[0] for s in statuses]
        assert sorted(codes) == [200] * 3 + [429] * 5
        assert server.exhausted == "max_calls"

    serve(model, test, quota=quota)
    assert len(model.calls) == 3 and quota.left == 0


def test_upstream_errors_map_to_openai_statuses() -> None:
    class Failing(FakeModel):
        def __init__(self, error: Exception) -> None:
            super().__init__()
            self.error = error

        async def complete(self, request: Request) -> Completion:
            raise self.error

    cases = [(RateLimitError("slow down", retry_after=2), 429, "rate_limit_error"),
             (TransportError("down"), 503, "upstream_unavailable"),
             (ValueError("bug"), 500, "server_error")]
    for error, status, kind in cases:
        async def test(server: ModelServer, post: Post, status: int = status,
                       kind: str = kind) -> None:
            got, headers, data = await post(CHAT)
            assert (got, data["error"]["type"]) == (status, kind)
            if status == 429:
                assert headers["Retry-After"] == "2"

        serve(Failing(error), test)


def test_seeds_sampled_requests_deterministically() -> None:
    model = FakeModel("ok")
    sampled = {**CHAT, "temperature": 1.0}

    async def test(server: ModelServer, post: Post) -> None:
        for body in (sampled, sampled, CHAT, {**sampled, "seed": 3}):
            assert (await post(body))[0] == 200

    serve(model, test, sample_seed=7)
    first = [r.seed for r in model.calls]
    model.calls.clear()
    serve(model, test, sample_seed=7)
    assert [r.seed for r in model.calls] == first
    assert first[0] is not None and first[0] != first[1]  # a repeat draws a new sample
    assert first[2:] == [None, 3]  # greedy calls and explicit seeds are left alone
