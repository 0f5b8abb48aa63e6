"""A real uvicorn server on loopback: the OpenAI SDK, ``honed.client.Client`` and
``honed.load_prompt(ref, url=..., key=...)`` against it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from tests.live_server import free_port, serve_in_thread

import honed
from honed.client import Client
from honed.errors import AuthError, ConfigError, TransportError
from honed.lifecycle import prompt as prompt_module
from honed.lifecycle.prompt import load_prompt


@pytest.fixture
def live(make_app: Callable[..., Any]) -> Iterator[str]:
    with serve_in_thread(make_app()) as url:
        yield url


def test_the_openai_sdk_talks_to_honed(live: str, served: Any) -> None:
    from openai import OpenAI

    sdk = OpenAI(base_url=f"{live}/v1", api_key=served.keys["serve"], max_retries=0)
    chat = sdk.chat.completions.create(
        model="honed:sent@production", messages=[{"role": "user", "content": "meh"}],
        extra_body={"inputs": {"text": "meh", "choices": "positive, negative"}})
    assert chat.object == "chat.completion" and chat.model == "honed:sent@production"
    assert chat.choices[0].message.content == "positive"
    assert chat.usage is not None and chat.usage.prompt_tokens > 0
    assert chat.model_extra["honed"] == {"prompt": "sent", "version": 1}  # no experiment
    # one variable: the last user message fills it
    echo = sdk.chat.completions.create(model="honed:echo@production",
                                       messages=[{"role": "user", "content": "hello"}])
    assert echo.choices[0].message.content == "Say: hello"
    ids = {row["id"] for row in served.store.requests()}
    assert {chat.id, echo.id} <= ids
    import openai

    with pytest.raises(openai.NotFoundError):
        sdk.chat.completions.create(model="honed:nope@production",
                                    messages=[{"role": "user", "content": "x"}])
    with pytest.raises(openai.UnprocessableEntityError):  # two variables, no inputs
        sdk.chat.completions.create(model="honed:sent@production",
                                    messages=[{"role": "user", "content": "x"}])
    with pytest.raises(openai.AuthenticationError):
        OpenAI(base_url=f"{live}/v1", api_key="bad", max_retries=0).chat.completions.create(
            model="honed:sent@production", messages=[{"role": "user", "content": "x"}])


def test_the_client_completes_gives_feedback_and_reads_prompts(live: str,
                                                               served: Any) -> None:
    with Client(live, served.keys["admin"]) as client:
        answer = client.complete("sent@production", text="meh", choices="a, b", user_id="u")
        assert answer["output"] == "positive" and answer["version"] == 1
        assert client.feedback(answer["id"], label="good")["request_id"] == answer["id"]
        prompt = client.prompt("sent@production")
        assert prompt == load_prompt("sent@production", home=served.home)
        with pytest.raises(ConfigError, match="nope"):
            client.complete("nope@production")
    with Client(live, "bad") as client, pytest.raises(AuthError):
        client.complete("sent@production", text="x", choices="y")
    [row] = served.store.requests()
    assert row["feedback"][0]["label"] == "good"


def test_load_prompt_reads_through_the_server_with_a_ttl(live: str, served: Any,
                                                        monkeypatch: pytest.MonkeyPatch,
                                                        ) -> None:
    prompt_module._REMOTE.clear()
    key = served.keys["serve"]
    remote = honed.load_prompt("sent@production", url=live, key=key)
    assert remote == load_prompt("sent@production", home=served.home)
    assert remote.render(text="meh", choices="a") == load_prompt(
        "sent@production", home=served.home).render(text="meh", choices="a")
    calls: list[str] = []
    real = prompt_module.fetch_prompt

    def counted(*args: Any, **kwargs: Any) -> Any:
        calls.append(args[2])
        return real(*args, **kwargs)

    monkeypatch.setattr(prompt_module, "fetch_prompt", counted)
    assert load_prompt("sent@production", url=live, key=key) == remote  # within the TTL
    assert calls == []
    assert load_prompt("sent@production", url=live, key=key, ttl_s=0) == remote
    assert calls == ["sent@production"]
    with pytest.raises(ConfigError, match="nope"):
        load_prompt("nope@production", url=live, key=key)
    with pytest.raises(AuthError):
        load_prompt("sent/1", url=live, key="bad")


def test_load_prompt_keeps_the_last_copy_when_the_server_is_gone(served: Any) -> None:
    prompt_module._REMOTE.clear()
    url = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(TransportError):
        load_prompt("sent@production", url=url, key="k")
    stale = load_prompt("sent@production", home=served.home)
    prompt_module._REMOTE[(url, "sent@production", "k")] = (0.0, stale)
    assert load_prompt("sent@production", url=url, key="k", ttl_s=0) == stale
