"""The prompt registry: versioned prompts with movable aliases (``candidate``, ``production``).

Two backends behind one protocol: MLflow's prompt registry (MLflow 3.x GenAI) when MLflow is
installed and tracking is on, and honed's local SQLite registry otherwise. The same CLI works
with both (``registry_memory.MemoryRegistry`` keeps one in memory). References: ``NAME@ALIAS`` or
``NAME/VERSION``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from honed.errors import ConfigError
from honed.types import Candidate

CANDIDATE, PRODUCTION, PREVIOUS = "candidate", "production", "previous-production"
_REF = re.compile(r"^(?P<name>[A-Za-z0-9][A-Za-z0-9_.-]*)(?:@(?P<alias>[A-Za-z0-9_-]+)|/"
                  r"(?P<version>\d+))$")


@dataclass(frozen=True)
class PromptVersion:
    name: str
    version: int
    candidate: Candidate
    tags: Mapping[str, str] = field(default_factory=dict)
    aliases: tuple[str, ...] = ()
    created: float = 0.0


@dataclass(frozen=True)
class PromptRef:
    name: str
    alias: str | None = None
    version: int | None = None

    def __str__(self) -> str:
        return f"{self.name}@{self.alias}" if self.alias else f"{self.name}/{self.version}"


def parse_ref(text: str) -> PromptRef | None:
    """``NAME@ALIAS`` or ``NAME/VERSION`` -> PromptRef; anything else -> None."""
    match = _REF.match(text.strip())
    if match is None:
        return None
    version = match.group("version")
    return PromptRef(match.group("name"), match.group("alias"),
                     int(version) if version else None)


def require_ref(text: str, field_name: str) -> PromptRef:
    ref = parse_ref(text)
    if ref is None:
        raise ConfigError(f"{text!r} is not a prompt reference", field=field_name,
                          fix="use NAME@ALIAS (e.g. sentiment@production) or NAME/VERSION")
    return ref


class PromptRegistry(Protocol):
    """Versioned prompts. Versions are immutable; aliases move."""

    backend: str

    def register(self, name: str, candidate: Candidate, *,
                 tags: Mapping[str, str] | None = None) -> PromptVersion: ...

    def get(self, ref: PromptRef) -> PromptVersion: ...  # ConfigError naming it if missing

    def versions(self, name: str) -> list[PromptVersion]: ...

    def names(self) -> list[str]: ...

    def set_alias(self, name: str, alias: str, version: int) -> None: ...

    def set_tags(self, name: str, version: int, tags: Mapping[str, str]) -> None:
        """Add or overwrite tags on an existing version (its prompt stays immutable)."""
        ...

    def aliases(self, name: str) -> dict[str, int]: ...


def open_registry(home: Path, *, backend: str | None = None) -> PromptRegistry:
    """MLflow's registry when available (``backend='mlflow'``), else the local one."""
    if backend == "local":
        from honed.lifecycle.registry_local import LocalRegistry

        return LocalRegistry(home / "registry.sqlite")
    from honed.tracking.mlflow import mlflow_available

    if backend == "mlflow" or (backend is None and mlflow_available()):
        from honed.lifecycle.registry_mlflow import MlflowRegistry

        return MlflowRegistry(home)
    from honed.lifecycle.registry_local import LocalRegistry

    return LocalRegistry(home / "registry.sqlite")
