"""Opening and copying prompt registries: the one module that knows every backend (the
protocol and the helpers the backends share live in ``registry``, which imports none of them)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from honed.lifecycle.registry import PromptRef, PromptRegistry, PromptVersion, registry_backend


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
