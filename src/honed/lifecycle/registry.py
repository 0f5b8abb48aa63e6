"""The prompt registry: versioned prompts with movable aliases (``candidate``, ``production``).

Two backends behind one protocol: honed's local SQLite registry (``$HONED_HOME/registry.sqlite``)
and MLflow's prompt registry (MLflow 3.x GenAI, in the tracking store). Which one is an explicit
setting, never a guess: ``HONED_REGISTRY=local|mlflow`` (``--backend`` on the command line),
default ``local`` whether or not MLflow is installed, so installing MLflow never hides earlier
entries. ``registries.open_registry`` opens one and ``registries.copy_prompts`` moves prompts
between backends (``honed registry copy``); this module imports neither backend.
``registry_memory.MemoryRegistry`` keeps one in memory. References: ``NAME@ALIAS`` or
``NAME/VERSION``.

A version is identified by its content (the candidate's hash, demo ids included): registering
identical content again returns the existing version. A version carries its few-shot demos'
rows (``demo_rows``: demo id -> example fields), so it is readable and usable without the
dataset it was optimized on.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from honed.errors import ConfigError
from honed.types import Candidate

CANDIDATE, PRODUCTION, PREVIOUS = "candidate", "production", "previous-production"
REGISTRY_ENV, DEFAULT_BACKEND, BACKENDS = "HONED_REGISTRY", "local", ("local", "mlflow")
_REF = re.compile(r"^(?P<name>[A-Za-z0-9][A-Za-z0-9_.-]*)(?:@(?P<alias>[A-Za-z0-9_-]+)|/"
                  r"(?P<version>\d+))$")

DemoRows = Mapping[str, Mapping[str, Any]]


DEMO_TARGET_TAG = "honed.demo_target"  # the template of a demo's answer, kept with a version
MODEL_TAG = "honed.model"  # the model spec a version was evaluated with (what serve calls)


@dataclass(frozen=True)
class PromptVersion:
    name: str
    version: int
    candidate: Candidate
    tags: Mapping[str, str] = field(default_factory=dict)
    aliases: tuple[str, ...] = ()
    created: float = 0.0
    demo_rows: DemoRows = field(default_factory=dict)  # demo id -> the example's fields


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


def demo_rows_for(candidate: Candidate, rows: DemoRows | None) -> dict[str, dict[str, Any]]:
    """The rows of ``candidate``'s demos found in ``rows`` (others are left out), as plain
    dicts in demo order."""
    rows = rows or {}
    return {d: dict(rows[d]) for d in candidate.demos if d in rows}


class PromptRegistry(Protocol):
    """Versioned prompts. Versions are immutable (content-addressed); aliases and tags move."""

    backend: str

    def register(self, name: str, candidate: Candidate, *,
                 tags: Mapping[str, str] | None = None,
                 demo_rows: DemoRows | None = None) -> PromptVersion:
        """A new version; or, when a version with identical content exists, that one as is."""
        ...

    def get(self, ref: PromptRef) -> PromptVersion: ...  # ConfigError naming it if missing

    def versions(self, name: str) -> list[PromptVersion]: ...

    def names(self) -> list[str]: ...

    def set_alias(self, name: str, alias: str, version: int) -> None: ...

    def set_tags(self, name: str, version: int, tags: Mapping[str, str]) -> None:
        """Add or overwrite tags on an existing version (its prompt stays immutable)."""
        ...

    def aliases(self, name: str) -> dict[str, int]: ...


def registry_backend(backend: str | None = None, *, flag: str = "--backend") -> str:
    """``backend`` when given, else ``$HONED_REGISTRY``, else ``local``. Never depends on what
    is installed. ``flag`` names where ``backend`` came from in an error."""
    chosen = (backend or os.environ.get(REGISTRY_ENV) or DEFAULT_BACKEND).strip().lower()
    if chosen not in BACKENDS:
        where = flag if backend else REGISTRY_ENV
        raise ConfigError(f"unknown registry backend {chosen!r}", field=where,
                          fix="use local or mlflow")
    return chosen


_ALIAS = re.compile(r"^[A-Za-z0-9_-]+$")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
LIST_FIX = "list prompts with `honed registry list`"


def check_name(name: str) -> None:
    if not _NAME.match(name):
        raise ConfigError(f"invalid prompt name {name!r}", field="name",
                          fix="use letters, digits, '.', '_' and '-', starting with a letter "
                              "or digit")


def check_alias(alias: str) -> None:
    if not _ALIAS.match(alias):
        raise ConfigError(f"invalid alias {alias!r}", field="alias",
                          fix="use letters, digits, '_' and '-'")


def missing(name: str, *, alias: str | None = None, version: int | None = None,
            known: Mapping[str, int] | list[int] | None = None) -> ConfigError:
    """The ConfigError for a name, alias or version that is not in the registry."""
    if alias is not None:
        have = ", ".join(f"{a} -> {v}" for a, v in sorted(dict(known or {}).items()))
        return ConfigError(f"prompt {name!r} has no alias {alias!r}", field=f"{name}@{alias}",
                           fix=f"aliases are: {have}" if have else
                           "promote a version first: `honed registry promote NAME VERSION`")
    if version is not None:
        have = ", ".join(map(str, known or [])) or "none"
        return ConfigError(f"prompt {name!r} has no version {version}", field=f"{name}/{version}",
                           fix=f"versions are: {have}")
    return ConfigError(f"no prompt named {name!r} in the registry", field=name, fix=LIST_FIX)
