from __future__ import annotations

import asyncio
import sys
from collections.abc import Mapping
from typing import Any

import pytest

from honed.errors import (
    AuthError,
    BadResponseError,
    ConfigError,
    ProviderError,
    RateLimitError,
    TransportError,
)
from honed.providers.anthropic import AnthropicModel
from honed.providers.base import Completion, Model, Request
from honed.providers.fake_server import BAD_BODY, FakeServer
from honed.task.task import ModelConfig, Pricing
from honed.types import Message

CANARY = "sk-ant-canary-0123456789abcdef"
KEYS = {"ANTHROPIC_API_KEY": CANARY}
REQUEST = Request((Message("system", "Classify."), Message("user", "great value")),
                  temperature=0.0, max_tokens=32)


def model(url: str, spec: str = "anthropic:claude-3-5-haiku-20241022",
          env: Mapping[str, str] = KEYS, **cfg: Any) -> AnthropicModel:
    return AnthropicModel(ModelConfig(spec=spec, base_url=url, **cfg), env=env)


def call(m: AnthropicModel, request: Request = REQUEST) -> Completion:
    async def once() -> Completion:
        try:
            return await m.complete(request)
        finally:
            await m.aclose()

    return asyncio.run(once())


def fail(m: AnthropicModel, request: Request = REQUEST) -> ProviderError:
    with pytest.raises(ProviderError) as info:
        call(m, request)
    return info.value


def sent_key(headers: Mapping[str, str]) -> str:
    return headers.get("x-api-key") or headers.get("authorization", "").removeprefix("Bearer ")


def test_is_a_model_with_defaults() -> None:
    m = model("http://127.0.0.1:1")
    assert isinstance(m, Model)
    assert m.default_concurrency == 4
    assert not m.constrains_output
    assert model("http://127.0.0.1:1", concurrency=9).default_concurrency == 9
    asyncio.run(m.aclose())


def test_request_shape_system_goes_to_system() -> None:
    request = Request((Message("system", "Classify."), Message("system", "Be terse."),
                       Message("user", "a"), Message("assistant", "b"), Message("user", "c")),
                      temperature=0.2, max_tokens=9, stop=("\n\n",), seed=3)
    with FakeServer(lambda _: "positive") as server:
        completion = call(model(server.url), request)
        body, headers = server.requests[0], server.headers[0]
    assert body["model"] == "claude-3-5-haiku-20241022"
    assert body["system"] == "Classify.\n\nBe terse."
    assert body["messages"] == [{"role": "user", "content": "a"},
                                {"role": "assistant", "content": "b"},
                                {"role": "user", "content": "c"}]
    assert body["max_tokens"] == 9
    assert body["stop_sequences"] == ["\n\n"]
    assert "seed" not in body
    assert body.get("temperature", 0.2) == 0.2  # sent where the SDK version still accepts it
    assert sent_key(headers) == CANARY
    assert completion.text == "positive"


def test_no_system_no_stop() -> None:
    with FakeServer() as server:
        call(model(server.url), Request((Message("user", "hi"),)))
        body = server.requests[0]
    assert "system" not in body and "stop_sequences" not in body


def test_usage_latency_cost_and_finish_reason() -> None:
    with FakeServer(lambda _: "positive", latency_s=0.05) as server:
        completion = call(model(server.url))
    assert completion.text == "positive"
    assert (completion.usage.input_tokens, completion.usage.output_tokens) == (6, 2)
    assert completion.cost_usd == pytest.approx((6 * 0.80 + 2 * 4.0) / 1e6)
    assert completion.finish_reason == "stop"
    assert 0.05 <= completion.latency_s < 2


def test_pricing_override() -> None:
    with FakeServer() as server:
        m = AnthropicModel(ModelConfig(spec="anthropic:claude-x", base_url=server.url),
                           pricing={"anthropic:claude-x": Pricing(input_per_mtok=1e6,
                                                                  output_per_mtok=0)}, env=KEYS)
        assert call(m).cost_usd == pytest.approx(6.0)


def test_max_tokens_stop_is_length() -> None:
    with FakeServer(lambda _: "x" * 400) as server:
        assert call(model(server.url)).finish_reason == "length"


def test_trailing_v1_in_base_url_is_tolerated() -> None:
    with FakeServer() as server:
        m = model(server.url + "/")
        assert m.base_url == server.root
        assert call(m).text == "great value"


def test_base_url_from_env() -> None:
    with FakeServer() as server:
        m = AnthropicModel(ModelConfig(spec="anthropic:claude-3-haiku"),
                           env={**KEYS, "ANTHROPIC_BASE_URL": server.root})
        assert call(m).text == "great value"


def test_401_is_an_auth_error_without_the_key() -> None:
    with FakeServer(fail_plan=[401]) as server:
        m = model(server.url)
        error = fail(m)
    assert isinstance(error, AuthError) and not error.retryable
    assert error.status == 401
    assert "ANTHROPIC_API_KEY" in str(error)
    assert CANARY not in str(error) and CANARY not in repr(error)
    assert CANARY not in repr(m) and CANARY not in str(m)


@pytest.mark.parametrize("status", [429, 529])
def test_rate_limit_and_overloaded(status: int) -> None:
    with FakeServer(fail_plan=[status]) as server:
        error = fail(model(server.url))
        assert server.count == 1  # the SDK's own retries are off
    assert isinstance(error, RateLimitError) and error.retryable
    assert error.status == status
    assert error.retry_after == 0.0


@pytest.mark.parametrize("status", [500, 503])
def test_server_errors_are_transport_errors(status: int) -> None:
    with FakeServer(fail_plan=[status]) as server:
        error = fail(model(server.url))
        assert server.count == 1
    assert isinstance(error, TransportError) and error.retryable
    assert error.status == status


def test_bad_request_keeps_the_server_message() -> None:
    with FakeServer(fail_plan=[400]) as server:
        error = fail(model(server.url))
    assert type(error) is ProviderError and not error.retryable
    assert "scripted failure 400" in str(error)


def test_timeout_is_a_transport_error() -> None:
    with FakeServer(latency_s=0.5) as server:
        error = fail(model(server.url, timeout_s=0.1))
    assert isinstance(error, TransportError) and error.retryable


def test_unparseable_body_is_a_bad_response() -> None:
    with FakeServer(fail_plan=[BAD_BODY]) as server:
        error = fail(model(server.url))
    assert isinstance(error, BadResponseError)


def test_missing_key_names_the_variable() -> None:
    with pytest.raises(AuthError, match="ANTHROPIC_API_KEY"):
        AnthropicModel(ModelConfig(spec="anthropic:claude-haiku-4-5"), env={})
    with pytest.raises(AuthError, match="CLAUDE_KEY"):
        AnthropicModel(ModelConfig(spec="anthropic:claude-haiku-4-5",
                                   api_key_env="CLAUDE_KEY"), env=KEYS)


def test_custom_key_variable() -> None:
    with FakeServer() as server:
        m = model(server.url, env={"CLAUDE_KEY": CANARY}, api_key_env="CLAUDE_KEY")
        call(m)
        assert sent_key(server.headers[0]) == CANARY


def test_missing_sdk_is_a_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "anthropic", None)
    with pytest.raises(ConfigError) as info:
        model("http://127.0.0.1:1")
    assert "pip install 'honed[anthropic]'" in str(info.value)
