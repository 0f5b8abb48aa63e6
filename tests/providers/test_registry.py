from __future__ import annotations

import asyncio
import sys
import types
from pathlib import Path
from typing import Any

import pytest

from honed.errors import AuthError, ConfigError
from honed.providers.anthropic import AnthropicModel
from honed.providers.base import Model, Request
from honed.providers.fake import FakeModel
from honed.providers.openai_compat import OpenAICompatModel
from honed.providers.registry import MODEL_PROVIDERS, PROVIDERS, build_model, local_path, parse_spec
from honed.task.task import ModelConfig, Pricing
from honed.types import Message


class StubLocal:
    """Stands in for honed.providers.local.LocalModel (llama.cpp is not needed here)."""

    def __init__(self, cfg: ModelConfig, model_path: Path | None) -> None:
        self.cfg, self.model_path = cfg, model_path


@pytest.fixture
def stub_local(monkeypatch: pytest.MonkeyPatch) -> None:
    module = types.ModuleType("honed.providers.local")
    module.LocalModel = StubLocal  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "honed.providers.local", module)


@pytest.mark.parametrize(("spec", "expected"), [
    ("local", ("local", "")),
    ("local:models/tiny.gguf", ("local", "models/tiny.gguf")),
    ("openai:gpt-4o-mini", ("openai", "gpt-4o-mini")),
    (" OpenAI:llama3.1:8b ", ("openai", "llama3.1:8b")),
    ("anthropic:claude-haiku-4-5", ("anthropic", "claude-haiku-4-5")),
    ("fake", ("fake", "")),
    ("fake:answer=a:b", ("fake", "answer=a:b")),
])
def test_parse_spec(spec: str, expected: tuple[str, str]) -> None:
    assert parse_spec(spec) == expected


@pytest.mark.parametrize("spec", ["gemini:pro", "", "gpt-4o", "ollama:llama3"])
def test_unknown_provider_is_a_config_error(spec: str) -> None:
    with pytest.raises(ConfigError) as info:
        build_model(ModelConfig(spec=spec))
    assert info.value.field == "model"
    assert info.value.fix == "use local, openai:NAME, anthropic:NAME or fake"


@pytest.mark.parametrize("spec", ["openai", "openai:", "anthropic:  "])
def test_hosted_providers_need_a_name(spec: str) -> None:
    with pytest.raises(ConfigError, match="needs a model name") as info:
        parse_spec(spec)
    assert info.value.field == "model"


def test_fake_specs(tmp_path: Path) -> None:
    (tmp_path / "s.json").write_text('{"hi": "hello"}', encoding="utf-8")
    echo = build_model(ModelConfig(spec="fake"))
    scripted = build_model(ModelConfig(spec="fake:file=s.json"), base_dir=tmp_path)
    assert isinstance(echo, FakeModel) and isinstance(scripted, FakeModel)
    assert echo.spec == "fake"
    assert scripted.answer(Request((Message("user", "hi"),))) == "hello"
    assert isinstance(scripted, Model)


@pytest.mark.usefixtures("stub_local")
def test_local_specs(tmp_path: Path) -> None:
    default = build_model(ModelConfig(spec="local"), base_dir=tmp_path)
    relative = build_model(ModelConfig(spec="local:models/tiny.gguf"), base_dir=tmp_path)
    absolute = build_model(ModelConfig(spec=f"local:{tmp_path}/x.gguf"), base_dir=Path("/else"))
    assert isinstance(default, StubLocal) and default.model_path is None
    assert isinstance(relative, StubLocal)
    assert relative.model_path == tmp_path / "models" / "tiny.gguf"
    assert relative.cfg.spec == "local:models/tiny.gguf"
    assert isinstance(absolute, StubLocal) and absolute.model_path == tmp_path / "x.gguf"


def test_local_path() -> None:
    assert local_path("", Path("/t")) is None
    assert local_path("m.gguf", None) == Path("m.gguf")
    assert local_path("m.gguf", Path("/t")) == Path("/t/m.gguf")


def test_openai_spec(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    pricing = {"gpt-4o": Pricing(input_per_mtok=1, output_per_mtok=1)}
    m: Any = build_model(ModelConfig(spec="openai:gpt-4o", concurrency=5), pricing=pricing)
    assert isinstance(m, OpenAICompatModel)
    assert (m.spec, m.name, m.default_concurrency) == ("openai:gpt-4o", "gpt-4o", 5)
    asyncio.run(m.aclose())


def test_openai_without_key_fails_at_build() -> None:
    with pytest.raises(AuthError, match="OPENAI_API_KEY"):
        build_model(ModelConfig(spec="openai:gpt-4o"))


def test_anthropic_spec(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test")
    m = build_model(ModelConfig(spec="anthropic:claude-haiku-4-5"))
    assert isinstance(m, AnthropicModel)
    assert m.spec == "anthropic:claude-haiku-4-5"
    asyncio.run(m.aclose())


def test_builtin_providers_go_through_the_registry() -> None:
    assert MODEL_PROVIDERS.names()[:len(PROVIDERS)] == list(PROVIDERS)
    assert all(MODEL_PROVIDERS.entry(name).builtin for name in PROVIDERS)
    model = build_model(ModelConfig(spec="fake:answer=hi"))
    assert isinstance(model, FakeModel) and model.spec == "fake:answer=hi"
