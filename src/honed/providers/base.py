"""The Model protocol and its request/response types."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Protocol, runtime_checkable

from honed.types import Message, Usage, canonical_json, content_hash


def count_tokens(text: str) -> int:
    """A cheap, deterministic token estimate (about 4 characters a token), for plans and the
    fake model when no tokenizer is at hand."""
    return max(1, (len(text) + 3) // 4) if text else 0


@dataclass(frozen=True)
class OutputSpec:
    """Structured-output constraint. Providers that can constrain decoding apply it."""

    choices: tuple[str, ...] | None = None
    json_schema: Mapping[str, Any] | None = None

    @property
    def active(self) -> bool:
        return bool(self.choices) or self.json_schema is not None


@dataclass(frozen=True)
class Request:
    messages: tuple[Message, ...]
    temperature: float = 0.0
    max_tokens: int = 256
    output: OutputSpec = field(default_factory=OutputSpec)
    stop: tuple[str, ...] = ()
    seed: int | None = None

    def cache_key(self, model_spec: str) -> str:
        """Content address of this call: provider, model, parameters and rendered messages."""
        return content_hash({
            "model": model_spec,
            "messages": [m.to_dict() for m in self.messages],
            "temperature": self.temperature,
            "max_tokens": self.max_tokens,
            "choices": list(self.output.choices or ()),
            "json_schema": (canonical_json(self.output.json_schema)
                            if self.output.json_schema is not None else None),
            "stop": list(self.stop),
            "seed": self.seed,
        }, length=40)


@dataclass(frozen=True)
class Completion:
    text: str
    usage: Usage = field(default_factory=Usage)
    latency_s: float = 0.0
    cost_usd: float = 0.0
    finish_reason: str = "stop"
    cached: bool = False

    def as_cached(self) -> Completion:
        return replace(self, cached=True)


@runtime_checkable
class Model(Protocol):
    """Anything that completes a chat request.

    ``spec`` is the canonical ``provider:name`` string (the cache key includes it).
    ``default_concurrency`` is how many calls in flight suit this provider.
    ``constrains_output`` says whether ``OutputSpec`` is enforced during decoding.
    """

    spec: str
    default_concurrency: int
    constrains_output: bool

    async def complete(self, request: Request) -> Completion: ...

    async def aclose(self) -> None: ...
