"""Release operations on a prompt registry: register, promote, roll back, diff.

``production`` is what ships; promoting moves it and records the version it replaced under
``previous-production`` so a rollback is one step. ``candidate`` marks the latest optimization's
best version (an existing one when that content was registered before). Failed BLOCK_DEPLOY
gates (computed by the caller, or recorded on the version in the tag ``honed.blocked`` by an
optimization of a task with gates or by ``honed gate`` on a registry version) refuse a
promotion unless forced.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from honed.errors import ConfigError, GateFailed
from honed.lifecycle.registry import (
    CANDIDATE,
    DEMO_TARGET_TAG,
    MODEL_TAG,
    PREVIOUS,
    PRODUCTION,
    DemoRows,
    PromptRef,
    PromptRegistry,
    PromptVersion,
)
from honed.types import Candidate

if TYPE_CHECKING:
    from honed.lifecycle.gates import GateReport

BLOCKED_TAG = "honed.blocked"
GATE_TAG = "honed.gate"  # the outcome of the task's gates on the version, when checked
SOURCE_TAG = "honed.source"


@dataclass(frozen=True)
class Promotion:
    """What a promote or rollback did. ``previous`` is the production version it replaced."""

    name: str
    version: int
    previous: int | None
    changed: bool
    forced: bool = False
    blocked: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "blocked": list(self.blocked)}


def gate_tags(outcome: str, blocked: Iterable[str]) -> dict[str, str]:
    """What a gate check records on a version: its outcome and the failed BLOCK_DEPLOY gates
    (empty when none, which clears an earlier block)."""
    return {GATE_TAG: outcome, BLOCKED_TAG: ",".join(blocked)}


def record_gate(registry: PromptRegistry | None, meta: Mapping[str, Any],
                report: GateReport) -> str | None:
    """Record a complete gate check on the registry version it checked (``meta`` of a resolved
    spec names it); returns ``NAME/VERSION``, or None when the prompt is not a registry
    version or the evaluation stopped early."""
    if registry is None or "name" not in meta or report.notes:
        return None
    registry.set_tags(meta["name"], meta["version"], gate_tags(report.outcome, report.blocked))
    return f"{meta['name']}/{meta['version']}"


def blocked_from_tags(tags: Mapping[str, str]) -> list[str]:
    """Failed BLOCK_DEPLOY gate labels recorded on a version (comma-separated tag)."""
    return [label.strip() for label in tags.get(BLOCKED_TAG, "").split(",") if label.strip()]


def promote(registry: PromptRegistry, name: str, version: int, *, force: bool = False,
            blocked: Iterable[str] | None = None) -> Promotion:
    """Point ``production`` at ``version``; the replaced version becomes ``previous-production``.

    Raises GateFailed when ``blocked`` names failed BLOCK_DEPLOY gates and ``force`` is off.
    """
    registry.get(PromptRef(name, version=version))  # ConfigError if name/version is missing
    labels = tuple(blocked or ())
    if labels and not force:
        raise GateFailed(f"{name}/{version} is blocked from production by failed "
                         f"BLOCK_DEPLOY gate(s): {', '.join(labels)} (pass --force to "
                         "promote anyway)")
    current = registry.aliases(name).get(PRODUCTION)
    if current == version:
        return Promotion(name, version, current, False, force and bool(labels), labels)
    if current is not None:
        registry.set_alias(name, PREVIOUS, current)
    registry.set_alias(name, PRODUCTION, version)
    return Promotion(name, version, current, True, force and bool(labels), labels)


def rollback(registry: PromptRegistry, name: str) -> Promotion:
    """Move ``production`` back to ``previous-production``; the two swap, so a second rollback
    rolls forward again."""
    aliases = registry.aliases(name)
    target = aliases.get(PREVIOUS)
    if target is None:
        registry.get(PromptRef(name))  # a missing prompt is named as such
        raise ConfigError(f"prompt {name!r} has no {PREVIOUS!r} version to roll back to",
                          field=f"{name}@{PREVIOUS}",
                          fix="promote a version first; a promotion records the one it replaces")
    current = aliases.get(PRODUCTION)
    registry.set_alias(name, PRODUCTION, target)
    if current is not None and current != target:
        registry.set_alias(name, PREVIOUS, current)
    return Promotion(name, target, current, current != target)


def register_candidate(registry: PromptRegistry, name: str, candidate: Candidate,
                       scores: Mapping[str, Any], *,
                       demo_rows: DemoRows | None = None) -> PromptVersion:
    """Register an optimized candidate with its scores as tags and the rows of its demos (demo
    id -> example fields), and point ``candidate`` at it.

    Content already registered is not registered again: that version is returned, with this
    optimization's scores and gate outcome written onto its tags (the latest measurement of
    that content) and ``candidate`` pointing at it.
    """
    tags = score_tags(scores)
    version = registry.register(name, candidate, tags=tags, demo_rows=demo_rows)
    if any(version.tags.get(k) != v for k, v in tags.items()):
        registry.set_tags(name, version.version, tags)
    if CANDIDATE not in version.aliases:
        registry.set_alias(name, CANDIDATE, version.version)
    return registry.get(PromptRef(name, version=version.version))


def score_tags(scores: Mapping[str, Any]) -> dict[str, str]:
    """Tag values are strings: floats compactly, lists (gate labels) comma-joined."""
    out: dict[str, str] = {}
    for key, value in scores.items():
        if value is None:
            continue
        if isinstance(value, float):
            out[key] = format(value, ".6g")
        elif isinstance(value, list | tuple):
            out[key] = ",".join(map(str, value))
        else:
            out[key] = str(value)
    return out


def ensure_registered(registry: PromptRegistry, task: Any, *,
                      demo_rows: DemoRows | None = None) -> PromptVersion:
    """Register the task's seed prompt (with its demos' rows) unless a version holds the same
    content; return that version.

    A task whose prompt comes from the registry (``prompt.registry: NAME@ALIAS``) is left
    alone: the referenced version is returned.
    """
    from honed.lifecycle.registry import require_ref

    if getattr(task.prompt, "registry", None):
        return registry.get(require_ref(task.prompt.registry, "prompt.registry"))
    return registry.register(task.name, task.seed_candidate(),
                             tags=score_tags({SOURCE_TAG: "seed",
                                              DEMO_TARGET_TAG: task.target_template(),
                                              MODEL_TAG: task.model.spec}),
                             demo_rows=demo_rows)


def demo_text(fields: Mapping[str, Any]) -> str:
    """A demo's fields on one line each (``name: value``), JSON for what is not a string."""
    import json

    return "".join(f"  {k}: {v if isinstance(v, str) else json.dumps(v, ensure_ascii=False)}\n"
                   for k, v in fields.items())


def render_version(version: PromptVersion) -> str:
    """A version as plain text, one section per component, for diffs and display; each demo
    with its fields when the version holds its row."""
    c = version.candidate
    parts = [f"## system\n{c.system}\n", f"## user\n{c.user}\n"]
    parts += [f"## {k}\n{v}\n" for k, v in sorted(c.components.items())
              if k not in ("system", "user")]
    parts.append("## demos\n" + "".join(
        f"{d}\n" + demo_text(version.demo_rows.get(d, {})) for d in c.demos))
    return "".join(parts)


def diff_versions(registry: PromptRegistry, name: str, v1: int, v2: int) -> str:
    """Unified diff of system, user (and other components) and demos; "" when identical."""
    a = registry.get(PromptRef(name, version=v1))
    b = registry.get(PromptRef(name, version=v2))
    lines = difflib.unified_diff(render_version(a).splitlines(keepends=True),
                                 render_version(b).splitlines(keepends=True),
                                 fromfile=f"{name}/{v1}", tofile=f"{name}/{v2}")
    return "".join(lines)
