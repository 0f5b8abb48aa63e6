"""The prompt registry: versioned prompts with movable aliases (``candidate``, ``production``).

Two backends behind one protocol: honed's local SQLite registry (``$HONED_HOME/registry.sqlite``)
and MLflow's prompt registry (MLflow 3.x GenAI, in the tracking store). Which one is an explicit
setting, never a guess: ``HONED_REGISTRY=local|mlflow`` (``--backend`` on the command line),
default ``local`` whether or not MLflow is installed, so installing MLflow never hides earlier
entries. ``copy_prompts`` moves prompts between backends (``honed registry copy``).
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
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from honed.errors import ConfigError
from honed.types import Candidate

CANDIDATE, PRODUCTION, PREVIOUS = "candidate", "production", "previous-production"
REGISTRY_ENV, DEFAULT_BACKEND, BACKENDS = "HONED_REGISTRY", "local", ("local", "mlflow")
_REF = re.compile(r"^(?P<name>[A-Za-z0-9][A-Za-z0-9_.-]*)(?:@(?P<alias>[A-Za-z0-9_-]+)|/"
                  r"(?P<version>\d+))$")

DemoRows = Mapping[str, Mapping[str, Any]]


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


def open_registry(home: Path, *, backend: str | None = None) -> PromptRegistry:
    """The registry under ``home``: ``backend`` (``local`` or ``mlflow``), default the
    ``HONED_REGISTRY`` setting, else ``local``."""
    if registry_backend(backend) == "mlflow":
        from honed.lifecycle.registry_mlflow import MlflowRegistry

        return MlflowRegistry(home)
    from honed.lifecycle.registry_local import LocalRegistry

    return LocalRegistry(home / "registry.sqlite")


# copying between registries -------------------------------------------------------------------
@dataclass
class CopyReport:
    """What ``copy_prompts`` did: new versions, tags written and aliases moved, per prompt."""

    versions: dict[str, list[int]] = field(default_factory=dict)  # name -> new target versions
    tags: dict[str, int] = field(default_factory=dict)  # name -> tag values written
    aliases: dict[str, dict[str, int]] = field(default_factory=dict)  # name -> moved aliases
    mapping: dict[str, dict[int, int]] = field(default_factory=dict)  # source -> target version

    @property
    def changed(self) -> bool:
        return any(self.versions.values()) or any(self.tags.values()) or any(
            self.aliases.values())

    def to_dict(self) -> dict[str, Any]:
        return {"versions": self.versions, "tags": self.tags, "aliases": self.aliases,
                "mapping": {n: {str(k): v for k, v in m.items()} for n, m in self.mapping.items()},
                "changed": self.changed}


def copy_prompts(source: PromptRegistry, target: PromptRegistry,
                 names: Iterable[str] = ()) -> CopyReport:
    """Copy prompts (all by default) with every version, tag, demo row and alias. Idempotent:
    identical content maps onto the target's existing version, so a second copy changes
    nothing. Target version numbers may differ; aliases follow the content."""
    report = CopyReport()
    wanted = list(names) or source.names()
    for name in wanted:
        if not source.versions(name):
            source.get(PromptRef(name))  # a ConfigError naming the missing prompt
    for name in wanted:
        _copy_one(source, target, name, report)
    return report


def _copy_one(source: PromptRegistry, target: PromptRegistry, name: str,
              report: CopyReport) -> None:
    known = {v.version for v in target.versions(name)}
    mapping: dict[int, int] = {}
    new, written, done = report.versions.setdefault(name, []), 0, set[int]()
    for version in source.versions(name):
        copied = target.register(name, version.candidate, tags=version.tags,
                                 demo_rows=version.demo_rows)
        mapping[version.version] = copied.version
        if copied.version not in known:
            new.append(copied.version)
            known.add(copied.version)
        else:
            first = copied.version not in done  # a legacy duplicate only adds missing tags
            written += _sync_tags(target, copied, version.tags, overwrite=first)
        done.add(copied.version)
    report.mapping[name] = mapping
    report.tags[name] = written
    moved = {alias: mapping[v] for alias, v in source.aliases(name).items()
             if v in mapping and target.aliases(name).get(alias) != mapping[v]}
    for alias, number in moved.items():
        target.set_alias(name, alias, number)
    report.aliases[name] = moved


def _sync_tags(target: PromptRegistry, version: PromptVersion, tags: Mapping[str, str], *,
               overwrite: bool) -> int:
    have = dict(version.tags)
    todo = {k: v for k, v in tags.items()
            if k not in have or (overwrite and have[k] != v)}
    if todo:
        target.set_tags(version.name, version.version, todo)
    return len(todo)
