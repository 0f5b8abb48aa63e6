"""Named extension points: built-ins registered in code, plugins found through entry points.

A ``Registry`` maps names to lazy references (``"package.module:attr"``). The built-ins are
given in code; third-party ones are the entry points that installed distributions declare in the
registry's group, read once per process::

    # a plugin's pyproject.toml
    [project.entry-points."honed.optimizers"]
    my-search = "my_package.search:MySearch"

Groups: ``honed.optimizers`` (an optimizer class), ``honed.evals`` (an eval's parameter model)
and ``honed.providers`` (a model factory). Built-ins and plugins load the same way, on first use,
so a broken plugin fails only when it is used, with an error naming its distribution and entry
point. A built-in's name wins over a plugin's.
"""

from __future__ import annotations

import difflib
import importlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from importlib.metadata import EntryPoint, entry_points
from typing import Any

from honed.errors import ConfigError

OPTIMIZERS_GROUP = "honed.optimizers"
EVALS_GROUP = "honed.evals"
PROVIDERS_GROUP = "honed.providers"


@dataclass(frozen=True)
class Entry:
    """One named extension: where it lives and, for a plugin, which distribution declared it."""

    name: str
    target: str  # "package.module:attr"
    group: str
    distribution: str | None = None  # None: built into honed

    @property
    def builtin(self) -> bool:
        return self.distribution is None

    def describe(self) -> str:
        """``name = module:attr`` plus where it comes from, for messages."""
        origin = "built in" if self.builtin else f"from {self.distribution}"
        return f"entry point {self.group}: {self.name} = {self.target} ({origin})"


def _distribution(ep: EntryPoint) -> str:
    dist = getattr(ep, "dist", None)
    name = getattr(dist, "name", None) if dist is not None else None
    return str(name) if name else "an unknown distribution"


def _target(ep: EntryPoint) -> str:
    return f"{ep.module}:{ep.attr}" if ep.attr else ep.module


@cache
def plugin_entries(group: str) -> tuple[Entry, ...]:
    """The entry points of ``group`` in the installed distributions, the first of each name
    (read once per process; ``plugin_entries.cache_clear()`` reads them again)."""
    found: dict[str, Entry] = {}
    for ep in entry_points(group=group):
        found.setdefault(ep.name, Entry(ep.name, _target(ep), group, _distribution(ep)))
    return tuple(found.values())


def has_plugin(group: str, name: str) -> bool:
    """Whether an installed distribution declares ``name`` in ``group`` (nothing is imported)."""
    return any(entry.name == name for entry in plugin_entries(group))


def did_you_mean(name: str, choices: Iterable[str]) -> str:
    """``"did you mean 'x'? "`` for the closest of ``choices``, or ``""``."""
    close = difflib.get_close_matches(name, list(choices), n=1, cutoff=0.6)
    return f"did you mean {close[0]!r}? " if close else ""


def load_target(target: str) -> Any:
    """The object a ``"package.module:attr.sub"`` reference names (a module if no attr)."""
    module, _, attr = target.partition(":")
    loaded: Any = importlib.import_module(module.strip())
    for part in filter(None, attr.strip().split(".")):
        loaded = getattr(loaded, part)
    return loaded


class Registry:
    """Names -> lazily loaded objects: ``builtins`` given in code, plugins from ``group``.

    ``kind`` names what is registered in messages ("optimizer"); ``field`` is the field or flag
    an unknown name is reported against.
    """

    def __init__(self, group: str, kind: str, builtins: Mapping[str, str], *,
                 field: str) -> None:
        self.group, self.kind, self.field = group, kind, field
        self._builtins = {name: Entry(name, target, group) for name, target in builtins.items()}

    def entries(self) -> dict[str, Entry]:
        """Every name, built-ins first, then plugins (a plugin cannot shadow a built-in)."""
        found = dict(self._builtins)
        for entry in plugin_entries(self.group):
            found.setdefault(entry.name, entry)
        return found

    def names(self) -> list[str]:
        return list(self.entries())

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name in self.entries()

    def __iter__(self) -> Any:
        return iter(self.names())

    def unknown(self, name: str) -> ConfigError:
        names = self.names()
        return ConfigError(f"unknown {self.kind} {name!r}", field=self.field,
                           fix=f"{did_you_mean(name, names)}use one of: {', '.join(names)}")

    def entry(self, name: str) -> Entry:
        """The entry called ``name``; a ConfigError listing the choices if there is none."""
        found = self.entries().get(name)
        if found is None:
            raise self.unknown(name)
        return found

    def load(self, name: str) -> Any:
        """The object ``name`` refers to, imported now. A plugin that fails to import is a
        ConfigError naming its distribution and entry point."""
        entry = self.entry(name)
        if entry.builtin:
            return load_target(entry.target)
        try:
            return load_target(entry.target)
        except Exception as exc:
            raise ConfigError(
                f"the {self.kind} plugin {name!r} failed to load ({entry.describe()}): "
                f"{type(exc).__name__}: {exc}", field=self.field,
                fix=f"fix or reinstall {entry.distribution}, or uninstall it") from exc
