"""Prompt templates with ``{field}`` placeholders.

Only ``{identifier}`` is a placeholder; ``{{`` and ``}}`` are literal braces, and any other brace
(JSON in a prompt, say) is left as written. This is friendlier than ``str.format`` for prompts.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

_TOKEN = re.compile(r"\{\{|\}\}|\{([A-Za-z_][A-Za-z0-9_]*)\}")


def variables(template: str) -> list[str]:
    """Placeholder names in order of first appearance."""
    seen: dict[str, None] = {}
    for match in _TOKEN.finditer(template):
        if match.group(1):
            seen.setdefault(match.group(1))
    return list(seen)


def render(template: str, values: Mapping[str, Any]) -> str:
    """Fill placeholders; a missing value raises ``KeyError`` naming it."""

    def sub(match: re.Match[str]) -> str:
        token = match.group(0)
        if token == "{{":
            return "{"
        if token == "}}":
            return "}"
        value = values[match.group(1)]
        return "" if value is None else str(value)

    return _TOKEN.sub(sub, template)


def unknown_variables(templates: Iterable[str], fields: Iterable[str]) -> list[str]:
    known = set(fields)
    return sorted({v for t in templates for v in variables(t) if v not in known})


def to_double_brace(template: str) -> str:
    """``{var}`` -> ``{{var}}`` (MLflow's prompt-registry syntax); literal braces kept."""

    def sub(match: re.Match[str]) -> str:
        token = match.group(0)
        if token in ("{{", "}}"):
            return token[0]
        return "{{" + match.group(1) + "}}"

    return _TOKEN.sub(sub, template)


_DOUBLE = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}|\{|\}")


def from_double_brace(template: str) -> str:
    """Inverse of ``to_double_brace``: ``{{var}}`` -> ``{var}``, literal braces escaped."""

    def sub(match: re.Match[str]) -> str:
        if match.group(1):
            return "{" + match.group(1) + "}"
        return match.group(0) * 2

    return _DOUBLE.sub(sub, template)
