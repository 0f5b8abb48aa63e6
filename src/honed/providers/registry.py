"""Model specs -> Model objects: the one place where a ``model:`` string becomes a provider.

Spec grammar::

    local                 the embedded default model
    local:PATH.gguf       an embedded GGUF file (relative to the task's directory)
    openai:NAME           an OpenAI-compatible endpoint (base_url for vLLM, Ollama, ...)
    anthropic:NAME        the Anthropic Messages API
    fake[:OPTION]         the scripted FakeModel (see ``honed.providers.fake``)
    PLUGIN[:NAME]         a provider an installed plugin declares

A provider is a factory ``(cfg: ModelConfig, *, pricing, base_dir) -> Model``; the built-ins and
the ``honed.providers`` plugins (entry point name = the spec's prefix, lower case) go through
one registry. Providers are imported only when used, so a missing optional extra fails only for
its provider.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from honed.errors import ConfigError
from honed.plugins import PROVIDERS_GROUP, Registry
from honed.providers import fake
from honed.providers.base import Model
from honed.task.task import ModelConfig, Pricing

PROVIDERS = ("local", "openai", "anthropic", "fake")
BUILTIN = {name: f"{__name__}:_{name}" for name in PROVIDERS}
MODEL_PROVIDERS = Registry(PROVIDERS_GROUP, "model provider", BUILTIN, field="model")
_FIX = "use local, openai:NAME, anthropic:NAME or fake"


def _fix() -> str:
    plugins = [name for name in MODEL_PROVIDERS.names() if name not in PROVIDERS]
    return f"{_FIX}, or a plugin's: {', '.join(plugins)}" if plugins else _FIX


def parse_spec(spec: str) -> tuple[str, str]:
    """``openai:gpt-4o-mini`` -> ``("openai", "gpt-4o-mini")``; ``local`` -> ``("local", "")``."""
    text = spec.strip()
    provider, _, name = text.partition(":")
    provider = provider.lower()
    if provider not in MODEL_PROVIDERS:
        raise ConfigError(f"unknown model provider {provider!r} in {text!r}", field="model",
                          fix=_fix())
    if provider in ("openai", "anthropic") and not name.strip():
        raise ConfigError(f"{provider!r} needs a model name", field="model",
                          fix=f"write {provider}:NAME, e.g. "
                              + ("openai:gpt-4o-mini" if provider == "openai"
                                 else "anthropic:claude-haiku-4-5"))
    return provider, name.strip()


def local_path(name: str, base_dir: Path | None) -> Path | None:
    """The GGUF path of a ``local:PATH`` spec, resolved against the task's directory."""
    if not name:
        return None
    path = Path(name).expanduser()
    return path if path.is_absolute() or base_dir is None else base_dir / path


def build_model(cfg: ModelConfig, *, pricing: Mapping[str, Pricing] | None = None,
                base_dir: Path | None = None) -> Model:
    """The Model for ``cfg.spec``. Raises ConfigError for unknown specs, AuthError without keys."""
    provider, _ = parse_spec(cfg.spec)
    factory = MODEL_PROVIDERS.load(provider)
    if not callable(factory):
        raise ConfigError(f"model provider {provider!r} "
                          f"({MODEL_PROVIDERS.entry(provider).describe()}) is not callable",
                          field="model", fix="register a factory (cfg, *, pricing, base_dir) "
                                             "-> Model")
    model: Model = factory(cfg, pricing=pricing, base_dir=base_dir)
    return model


def _fake(cfg: ModelConfig, *, base_dir: Path | None = None, **_: Any) -> Model:
    return fake.from_spec(cfg.spec.strip(), base_dir)


def _local(cfg: ModelConfig, *, base_dir: Path | None = None, **_: Any) -> Model:
    from honed.providers.local import LocalModel

    return LocalModel(cfg, local_path(parse_spec(cfg.spec)[1], base_dir))


def _openai(cfg: ModelConfig, *, pricing: Mapping[str, Pricing] | None = None,
            **_: Any) -> Model:
    from honed.providers.openai_compat import OpenAICompatModel

    return OpenAICompatModel(cfg, pricing=pricing)


def _anthropic(cfg: ModelConfig, *, pricing: Mapping[str, Pricing] | None = None,
               **_: Any) -> Model:
    from honed.providers.anthropic import AnthropicModel

    return AnthropicModel(cfg, pricing=pricing)
