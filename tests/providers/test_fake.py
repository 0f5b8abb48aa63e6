from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import pytest

from honed.errors import ConfigError
from honed.providers.base import Model, Request
from honed.providers.fake import FakeModel, count_tokens, from_spec, last_user
from honed.types import Message


def req(*turns: tuple[str, str]) -> Request:
    return Request(tuple(Message(role, text) for role, text in turns))  # type: ignore[arg-type]


def ask(model: FakeModel, text: str, system: str = "Be brief.") -> str:
    return asyncio.run(model.complete(req(("system", system), ("user", text)))).text


def test_is_a_model() -> None:
    assert isinstance(FakeModel(), Model)


def test_echoes_last_user_message_by_default() -> None:
    request = req(("user", "first"), ("assistant", "reply"), ("user", "second"))
    assert last_user(request) == "second"
    assert asyncio.run(FakeModel().complete(request)).text == "second"


def test_constant_answer() -> None:
    assert ask(FakeModel("positive"), "anything") == "positive"


def test_mapping_exact_then_contained_then_default() -> None:
    model = FakeModel({"great": "positive", "awful service": "negative"}, default="neutral")
    assert ask(model, "awful service") == "negative"
    assert ask(model, "a great day") == "positive"
    assert ask(model, "it is blue") == "neutral"


def test_callable_script_sees_the_request() -> None:
    model = FakeModel(lambda r: str(len(r.messages)))
    assert ask(model, "x") == "2"


def test_records_calls_and_counts_tokens() -> None:
    model = FakeModel("abcdefgh", cost_per_call=0.5)
    request = req(("system", "abcd"), ("user", "abcdefgh"))
    completion = asyncio.run(model.complete(request))
    assert model.calls == [request]
    assert completion.usage.input_tokens == count_tokens("abcd") + count_tokens("abcdefgh") == 3
    assert completion.usage.output_tokens == 2
    assert completion.cost_usd == 0.5
    assert completion.finish_reason == "stop"
    assert not completion.cached


def test_count_tokens() -> None:
    assert count_tokens("") == 0
    assert count_tokens("a") == 1
    assert count_tokens("abcde") == 2


def test_latency_is_simulated_concurrently() -> None:
    model = FakeModel(latency_s=0.05)

    async def many() -> float:
        start = time.perf_counter()
        await asyncio.gather(*(model.complete(req(("user", "x"))) for _ in range(10)))
        return time.perf_counter() - start

    elapsed = asyncio.run(many())
    assert 0.05 <= elapsed < 0.4


def test_aclose_is_harmless() -> None:
    asyncio.run(FakeModel().aclose())


def test_from_spec_echo_and_answer() -> None:
    assert ask(from_spec("fake"), "hello") == "hello"
    model = from_spec("fake:answer=yes: really")
    assert model.spec == "fake:answer=yes: really"
    assert ask(model, "hello") == "yes: really"


def test_from_spec_json_file(tmp_path: Path) -> None:
    (tmp_path / "script.json").write_text(json.dumps({"hi": "hello"}), encoding="utf-8")
    assert ask(from_spec("fake:file=script.json", tmp_path), "hi") == "hello"


def test_from_spec_jsonl_file(tmp_path: Path) -> None:
    rows = [{"input": "good", "output": "positive"}, {"input": "bad", "output": "negative"}]
    path = tmp_path / "script.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n\n", encoding="utf-8")
    model = from_spec(f"fake:file={path}")
    assert ask(model, "bad") == "negative"
    assert ask(model, "so good") == "positive"


@pytest.mark.parametrize("content", ["{not json", "[1, 2]", '{"input": "x"}\n'])
def test_from_spec_bad_file(tmp_path: Path, content: str) -> None:
    suffix = ".jsonl" if content.endswith("\n") else ".json"
    path = tmp_path / f"bad{suffix}"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        from_spec(f"fake:file={path.name}", tmp_path)
    assert str(path) in str(info.value)


def test_from_spec_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        from_spec("fake:file=nope.json", tmp_path)


def test_from_spec_unknown_option() -> None:
    with pytest.raises(ConfigError) as info:
        from_spec("fake:colour=blue")
    assert info.value.field == "model"
    assert "fake:answer=TEXT" in str(info.value)
