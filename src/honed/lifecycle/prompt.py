"""A registered prompt, ready for an application: ``load_prompt("name@alias")``.

``Prompt.render(**inputs)`` gives the chat messages (system, the few-shot demos as user and
assistant turns, then the input), exactly as honed evaluated them; ``Prompt.format(**inputs)``
gives the same as one text, for completion-style APIs.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from honed.engine.session import honed_home
from honed.errors import ConfigError
from honed.lifecycle.registry import DEMO_TARGET_TAG, PromptRegistry, PromptVersion, require_ref
from honed.task.render import render_messages
from honed.task.template import variables
from honed.types import Candidate, Example


@dataclass(frozen=True)
class Prompt:
    """One version of a registered prompt."""

    name: str
    version: int
    candidate: Candidate
    demos: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    demo_target: str | None = None
    aliases: tuple[str, ...] = ()
    tags: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def from_version(cls, version: PromptVersion) -> Prompt:
        return cls(version.name, version.version, version.candidate, dict(version.demo_rows),
                   version.tags.get(DEMO_TARGET_TAG), version.aliases, dict(version.tags))

    @property
    def system(self) -> str:
        return self.candidate.system

    @property
    def user(self) -> str:
        return self.candidate.user

    @property
    def variables(self) -> list[str]:
        """The inputs ``render`` needs."""
        return list(dict.fromkeys(variables(self.system) + variables(self.user)))

    def render(self, **inputs: Any) -> list[dict[str, str]]:
        """The chat messages for ``inputs`` (``[{"role": ..., "content": ...}, ...]``)."""
        missing = [v for v in self.variables if v not in inputs]
        if missing:
            raise ConfigError(f"prompt {self.name}/{self.version} needs "
                              f"{', '.join(map(repr, missing))}", field="inputs",
                              fix=f"pass {', '.join(f'{v}=...' for v in missing)}")
        demos = {d: Example(d, dict(fields)) for d, fields in self.demos.items()}
        unknown = [d for d in self.candidate.demos if d not in demos]
        if unknown or (self.candidate.demos and self.demo_target is None):
            raise ConfigError(f"prompt {self.name}/{self.version} names demos whose rows or "
                              f"answer template were not registered with it",
                              fix="register it again with a current honed (honed optimize "
                                  "or honed registry register)")
        messages = render_messages(self.candidate, Example("input", dict(inputs)), demos,
                                   self.demo_target or "")
        return [m.to_dict() for m in messages]

    def format(self, **inputs: Any) -> str:
        """The prompt as one text: the system prompt, the demos and the input, blank-line
        separated."""
        return "\n\n".join(m["content"] for m in self.render(**inputs) if m["content"])


def load_prompt(ref: str, *, home: str | Path | None = None,
                registry: PromptRegistry | None = None) -> Prompt:
    """The registered prompt ``NAME@ALIAS`` or ``NAME/VERSION`` (registry: ``HONED_REGISTRY``
    under ``home``, default ``$HONED_HOME``)."""
    if registry is None:
        from honed.lifecycle.registries import open_registry

        registry = open_registry(Path(home) if home is not None else honed_home())
    return Prompt.from_version(registry.get(require_ref(ref, "prompt")))
