"""Frozen value types shared by every layer. Pure data, canonical JSON, content-addressed ids."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

Role = Literal["system", "user", "assistant"]


def canonical_json(value: Any) -> str:
    """Stable JSON: sorted keys, no whitespace, UTF-8 kept as is."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def content_hash(value: Any, length: int = 16) -> str:
    return hashlib.sha256(canonical_json(value).encode()).hexdigest()[:length]


@dataclass(frozen=True)
class Message:
    role: Role
    content: str

    def to_dict(self) -> dict[str, str]:
        return {"role": self.role, "content": self.content}


@dataclass(frozen=True)
class Example:
    """One dataset row. ``fields`` holds inputs and references alike; ``id`` is stable."""

    id: str
    fields: Mapping[str, Any]

    def get(self, name: str, default: Any = None) -> Any:
        return self.fields.get(name, default)


@dataclass(frozen=True)
class Candidate:
    """A prompt under evaluation: named text components plus few-shot demo ids.

    ``components`` holds ``system`` and ``user`` (and any other named part); ``demos`` are ids of
    train examples rendered as chat turns before the real input.
    """

    components: Mapping[str, str]
    demos: tuple[str, ...] = ()
    meta: Mapping[str, Any] = field(default_factory=dict, compare=False, hash=False)

    @property
    def id(self) -> str:
        return content_hash(self.to_dict())

    @property
    def system(self) -> str:
        return self.components.get("system", "")

    @property
    def user(self) -> str:
        return self.components.get("user", "")

    def to_dict(self) -> dict[str, Any]:
        return {"components": dict(self.components), "demos": list(self.demos)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Candidate:
        return cls(components=dict(data["components"]), demos=tuple(data.get("demos", ())))

    def with_components(self, **parts: str) -> Candidate:
        return Candidate({**self.components, **parts}, self.demos)

    def with_demos(self, demos: tuple[str, ...]) -> Candidate:
        return Candidate(dict(self.components), tuple(demos))


@dataclass(frozen=True)
class Usage:
    input_tokens: int = 0
    output_tokens: int = 0

    def __add__(self, other: Usage) -> Usage:
        return Usage(self.input_tokens + other.input_tokens,
                     self.output_tokens + other.output_tokens)
