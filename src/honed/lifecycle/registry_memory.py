"""An in-memory prompt registry: the ``PromptRegistry`` protocol with nothing stored on disk,
for tests and for embedding honed where a registry is not wanted."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace

from honed.errors import ConfigError
from honed.lifecycle.registry import DemoRows, PromptRef, PromptVersion, demo_rows_for
from honed.types import Candidate


@dataclass
class MemoryRegistry:
    backend: str = "memory"
    _versions: dict[str, list[PromptVersion]] = field(default_factory=dict)
    _aliases: dict[str, dict[str, int]] = field(default_factory=dict)

    def register(self, name: str, candidate: Candidate, *,
                 tags: Mapping[str, str] | None = None,
                 demo_rows: DemoRows | None = None) -> PromptVersion:
        versions = self._versions.setdefault(name, [])
        rows = demo_rows_for(candidate, demo_rows)
        for i, known in enumerate(versions):  # identical content: the existing version
            if known.candidate.id == candidate.id:
                if rows and not known.demo_rows:
                    versions[i] = replace(known, demo_rows=rows)
                return self._with_aliases(versions[i])
        version = PromptVersion(name, len(versions) + 1, candidate,
                                {str(k): str(v) for k, v in (tags or {}).items()},
                                demo_rows=rows)
        versions.append(version)
        return version

    def get(self, ref: PromptRef) -> PromptVersion:
        number = ref.version if ref.alias is None else self.aliases(ref.name).get(ref.alias)
        for version in self._versions.get(ref.name, []):
            if version.version == number:
                return self._with_aliases(version)
        raise ConfigError(f"prompt {ref} not found in the registry")

    def versions(self, name: str) -> list[PromptVersion]:
        return [self._with_aliases(v) for v in self._versions.get(name, [])]

    def names(self) -> list[str]:
        return sorted(self._versions)

    def set_alias(self, name: str, alias: str, version: int) -> None:
        self._aliases.setdefault(name, {})[alias] = version

    def set_tags(self, name: str, version: int, tags: Mapping[str, str]) -> None:
        found = self.get(PromptRef(name, version=version))
        self._versions[name][version - 1] = replace(found, tags={**found.tags, **tags},
                                                    aliases=())

    def aliases(self, name: str) -> dict[str, int]:
        return dict(self._aliases.get(name, {}))

    def _with_aliases(self, version: PromptVersion) -> PromptVersion:
        names = tuple(sorted(a for a, v in self.aliases(version.name).items()
                             if v == version.version))
        return replace(version, aliases=names)
