from __future__ import annotations

import asyncio
import socket
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import pytest

from honed.errors import (
    AuthError,
    BadResponseError,
    ProviderError,
    RateLimitError,
    TransportError,
)
from honed.providers.base import Completion, Model, OutputSpec, Request
from honed.providers.fake_server import BAD_BODY, MALFORMED, FakeServer
from honed.providers.openai_compat import (
    OpenAICompatModel,
    error_message,
    retry_after,
    status_error,
)
from honed.task.task import ModelConfig, Pricing
from honed.types import Message

CANARY = "sk-canary-0123456789abcdef"
KEYS = {"OPENAI_API_KEY": CANARY}
REQUEST = Request((Message("system", "Classify."), Message("user", "great value")),
                  temperature=0.0, max_tokens=32)


def model(url: str, spec: str = "openai:gpt-4o-mini", env: Mapping[str, str] = KEYS,
          **cfg: Any) -> OpenAICompatModel:
    return OpenAICompatModel(ModelConfig(spec=spec, base_url=url, **cfg), env=env)


def call(m: OpenAICompatModel, request: Request = REQUEST) -> Completion:
    async def once() -> Completion:
        try:
            return await m.complete(request)
        finally:
            await m.aclose()

    return asyncio.run(once())


def fail(m: OpenAICompatModel, request: Request = REQUEST) -> ProviderError:
    with pytest.raises(ProviderError) as info:
        call(m, request)
    return info.value


def test_is_a_model_with_defaults() -> None:
    m = model("http://127.0.0.1:1/v1")
    assert isinstance(m, Model)
    assert m.spec == "openai:gpt-4o-mini"
    assert m.default_concurrency == 8
    assert not m.constrains_output
    assert model("http://127.0.0.1:1/v1", concurrency=3).default_concurrency == 3


def test_request_body_and_headers() -> None:
    request = Request(REQUEST.messages, temperature=0.3, max_tokens=7, stop=("\n",), seed=11)
    with FakeServer(lambda _: "positive") as server:
        completion = call(model(server.url), request)
        body, headers = server.requests[0], server.headers[0]
    assert body == {"model": "gpt-4o-mini",
                    "messages": [{"role": "system", "content": "Classify."},
                                 {"role": "user", "content": "great value"}],
                    "temperature": 0.3, "max_tokens": 7, "stop": ["\n"], "seed": 11}
    assert headers["authorization"] == f"Bearer {CANARY}"
    assert completion.text == "positive"


def test_optional_fields_are_left_out() -> None:
    with FakeServer() as server:
        call(model(server.url))
        body = server.requests[0]
    assert "stop" not in body and "seed" not in body and "response_format" not in body


def test_choices_are_not_sent_as_a_response_format() -> None:
    request = Request(REQUEST.messages, output=OutputSpec(choices=("positive", "negative")))
    with FakeServer() as server:
        call(model(server.url), request)
        assert "response_format" not in server.requests[0]


def test_json_schema_is_sent_as_response_format() -> None:
    strict = {"type": "object", "properties": {"label": {"type": "string"}},
              "required": ["label"], "additionalProperties": False}
    loose = {"type": "object", "properties": {"label": {"type": "string"}}}
    with FakeServer(lambda _: '{"label": "positive"}') as server:
        for schema in (strict, loose):
            output = OutputSpec(json_schema=schema)
            call(model(server.url), Request(REQUEST.messages, output=output))
        sent = [body["response_format"] for body in server.requests]
    assert sent[0] == {"type": "json_schema",
                       "json_schema": {"name": "output", "schema": strict, "strict": True}}
    assert sent[1]["json_schema"]["schema"] == loose
    assert sent[1]["json_schema"]["strict"] is False


def test_reasoning_models_get_max_completion_tokens_and_no_temperature() -> None:
    with FakeServer() as server:
        call(model(server.url, spec="openai:o3-mini"))
        body = server.requests[0]
    assert body["max_completion_tokens"] == 32
    assert "max_tokens" not in body and "temperature" not in body


def test_usage_latency_and_cost() -> None:
    with FakeServer(lambda _: "positive", latency_s=0.05) as server:
        completion = call(model(server.url))
    assert completion.usage.input_tokens == 3 + 3  # "Classify." + "great value"
    assert completion.usage.output_tokens == 2
    assert completion.cost_usd == pytest.approx((6 * 0.15 + 2 * 0.60) / 1e6)
    assert 0.05 <= completion.latency_s < 2
    assert completion.finish_reason == "stop"
    assert not completion.cached


def test_pricing_override_and_unknown_model() -> None:
    with FakeServer(lambda _: "positive") as server:
        unknown = call(model(server.url, spec="openai:llama3.1:8b"))
        priced = call(OpenAICompatModel(
            ModelConfig(spec="openai:llama3.1:8b", base_url=server.url),
            pricing={"llama3.1:8b": Pricing(input_per_mtok=1e6, output_per_mtok=0)}, env={}))
    assert unknown.cost_usd == 0.0
    assert priced.cost_usd == pytest.approx(6.0)


def test_truncation_is_reported_as_length() -> None:
    with FakeServer(lambda _: "x" * 400) as server:
        completion = call(model(server.url))
    assert completion.finish_reason == "length"


def test_401_is_an_auth_error_without_the_key() -> None:
    with FakeServer(fail_plan=[401]) as server:
        m = model(server.url)
        error = fail(m)
    assert isinstance(error, AuthError)
    assert not error.retryable
    assert error.status == 401
    assert "OPENAI_API_KEY" in str(error)
    assert CANARY not in str(error) and CANARY not in repr(error)
    assert CANARY not in repr(m) and CANARY not in str(m)


def test_403_is_an_auth_error() -> None:
    with FakeServer(fail_plan=[403]) as server:
        assert isinstance(fail(model(server.url)), AuthError)


@pytest.mark.parametrize("status", [429, 529])
def test_rate_limits_carry_retry_after(status: int) -> None:
    with FakeServer(fail_plan=[status]) as server:
        error = fail(model(server.url))
    assert isinstance(error, RateLimitError) and error.retryable
    assert error.status == status
    assert error.retry_after == 0.0


@pytest.mark.parametrize("status", [500, 502, 503, 408, 409])
def test_server_errors_are_transport_errors(status: int) -> None:
    with FakeServer(fail_plan=[status]) as server:
        error = fail(model(server.url))
        assert server.count == 1  # exactly one attempt: the engine retries
    assert isinstance(error, TransportError) and error.retryable
    assert error.status == status
    assert error.retry_after is None


@pytest.mark.parametrize("status", [400, 404, 422])
def test_other_client_errors_are_not_retryable(status: int) -> None:
    with FakeServer(fail_plan=[status]) as server:
        error = fail(model(server.url))
    assert type(error) is ProviderError
    assert not error.retryable
    assert f"scripted failure {status}" in str(error)


def test_timeout_is_a_transport_error() -> None:
    with FakeServer(latency_s=0.5) as server:
        error = fail(model(server.url, timeout_s=0.1))
    assert isinstance(error, TransportError) and error.retryable
    assert "0.1s" in str(error)


def test_connection_refused_is_a_transport_error() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    error = fail(model(f"http://127.0.0.1:{port}/v1"))
    assert isinstance(error, TransportError)
    assert CANARY not in str(error)


def test_unparseable_body_is_a_bad_response_and_retried() -> None:
    with FakeServer(fail_plan=[BAD_BODY]) as server:
        error = fail(model(server.url))
    assert isinstance(error, BadResponseError) and error.retryable


@pytest.mark.parametrize("body", MALFORMED)
def test_every_malformed_200_is_a_retryable_bad_response(body: bytes) -> None:
    m = OpenAICompatModel(ModelConfig(spec="openai:x", base_url="http://127.0.0.1:1/v1"),
                          env={})
    with pytest.raises(BadResponseError) as info:
        m._completion(m._decode(200, body.decode()), 0.0)
    assert info.value.retryable


def test_empty_content_with_a_finish_reason_is_an_answer() -> None:
    m = OpenAICompatModel(ModelConfig(spec="openai:x", base_url="http://127.0.0.1:1/v1"),
                          env={})
    done = m._completion({"choices": [{"message": {"content": ""}, "finish_reason": "stop"}]},
                         0.0)
    assert done.text == "" and done.finish_reason == "stop"
    cut = m._completion({"choices": [{"message": {"content": None},
                                      "finish_reason": "length"}]}, 0.0)
    assert cut.text == "" and cut.finish_reason == "length"


def test_missing_key_for_openai_names_the_variable() -> None:
    with pytest.raises(AuthError) as info:
        OpenAICompatModel(ModelConfig(spec="openai:gpt-4o"), env={})
    assert "OPENAI_API_KEY" in str(info.value)
    with pytest.raises(AuthError) as custom:
        OpenAICompatModel(ModelConfig(spec="openai:gpt-4o", api_key_env="TEAM_KEY"), env={})
    assert "TEAM_KEY" in str(custom.value)


def test_custom_key_variable_and_env_base_url() -> None:
    with FakeServer() as server:
        env = {"OPENAI_BASE_URL": server.url + "/", "TEAM_KEY": CANARY}
        m = OpenAICompatModel(ModelConfig(spec="openai:gpt-4o", api_key_env="TEAM_KEY"), env=env)
        assert m.base_url == server.url
        call(m)
        assert server.headers[0]["authorization"] == f"Bearer {CANARY}"


def test_local_servers_need_no_key() -> None:
    with FakeServer() as server:
        completion = call(model(server.url, spec="openai:qwen2.5", env={}))
        assert "authorization" not in server.headers[0]
    assert completion.text == "great value"


def test_default_base_url_is_openai(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", CANARY)
    m = OpenAICompatModel(ModelConfig(spec="openai:gpt-4o"))
    assert m.base_url == "https://api.openai.com/v1"
    assert CANARY not in repr(m)
    asyncio.run(m.aclose())


def test_keep_alive_reuses_connections() -> None:
    async def many(m: OpenAICompatModel) -> None:
        for _ in range(3):
            await asyncio.gather(*(m.complete(REQUEST) for _ in range(4)))
        await m.aclose()

    with FakeServer(latency_s=0.02) as server:
        asyncio.run(many(model(server.url, concurrency=4)))
        assert server.count == 12


def test_retry_after_parsing() -> None:
    assert retry_after({"Retry-After": "2"}) == 2.0
    assert retry_after({"retry-after": "1.5"}) == 1.5
    assert retry_after({"retry-after-ms": "250", "retry-after": "9"}) == 0.25
    assert retry_after({"retry-after": "-3"}) == 0.0
    assert retry_after({"retry-after": "soon"}) is None
    assert retry_after({}) is None
    later = format_datetime(datetime.now(UTC) + timedelta(seconds=30), usegmt=True)
    assert 25 < (retry_after({"Retry-After": later}) or 0) <= 30
    past = format_datetime(datetime.now(UTC) - timedelta(seconds=30), usegmt=True)
    assert retry_after({"Retry-After": past}) == 0.0


def test_status_mapping() -> None:
    assert isinstance(status_error("m", 503, "Overloaded", None), RateLimitError)
    assert isinstance(status_error("m", 504, "gateway", 3.0), TransportError)
    assert status_error("m", 504, "gateway", 3.0).retry_after == 3.0
    assert type(status_error("m", 413, "too big", None)) is ProviderError
    assert "KEY_VAR" in str(status_error("m", 401, "no", None, key_env="KEY_VAR"))


def test_error_message_extraction() -> None:
    assert error_message({"error": {"message": "bad model"}}) == "bad model"
    assert error_message({"error": "not found"}) == "not found"
    assert error_message({"detail": "validation failed"}) == "validation failed"
    assert error_message(None, "plain text") == "plain text"
    assert len(error_message({"message": "x" * 5000})) == 500
