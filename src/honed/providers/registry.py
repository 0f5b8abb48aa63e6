"""Model specs -> Model objects: the one place where a ``model:`` string becomes a provider.

Spec grammar::

    local                 the embedded default model
    local:PATH.gguf       an embedded GGUF file (relative to the task's directory)
    openai:NAME           an OpenAI-compatible endpoint (base_url for vLLM, Ollama, ...)
    anthropic:NAME        the Anthropic Messages API
    fake[:OPTION]         the scripted FakeModel (see ``honed.providers.fake``)

Providers are imported only when used, so a missing optional extra fails only for its provider.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from honed.errors import ConfigError
from honed.providers import fake
from honed.providers.base import Model
from honed.task.task import ModelConfig, Pricing

PROVIDERS = ("local", "openai", "anthropic", "fake")
_FIX = "use local, openai:NAME, anthropic:NAME or fake"


def parse_spec(spec: str) -> tuple[str, str]:
    """``openai:gpt-4o-mini`` -> ``("openai", "gpt-4o-mini")``; ``local`` -> ``("local", "")``."""
    text = spec.strip()
    provider, _, name = text.partition(":")
    provider = provider.lower()
    if provider not in PROVIDERS:
        raise ConfigError(f"unknown model provider {provider!r} in {text!r}", field="model",
                          fix=_FIX)
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
    provider, name = parse_spec(cfg.spec)
    if provider == "fake":
        return fake.from_spec(cfg.spec.strip(), base_dir)
    if provider == "local":
        from honed.providers.local import LocalModel

        return LocalModel(cfg, local_path(name, base_dir))
    if provider == "openai":
        from honed.providers.openai_compat import OpenAICompatModel

        return OpenAICompatModel(cfg, pricing=pricing)
    from honed.providers.anthropic import AnthropicModel

    return AnthropicModel(cfg, pricing=pricing)
