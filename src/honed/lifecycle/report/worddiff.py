"""Word-level diffs of prompts: system, user, other components and the demos (with their rows
when known), section by section."""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Mapping
from typing import Any

from honed.lifecycle.report.data import DiffOp, DiffSection, PromptDiff

_TOKEN = re.compile(r"\s+|\w+|[^\w\s]", re.UNICODE)


def tokens(text: str) -> list[str]:
    """Words, runs of whitespace and single punctuation marks; joined they give ``text``."""
    return _TOKEN.findall(text)


def word_diff(a: str, b: str) -> tuple[tuple[DiffOp, str], ...]:
    """``a`` -> ``b`` as (op, text) parts: equal, delete (only in a), insert (only in b).
    Adjacent parts of the same kind are merged; a replacement is a delete then an insert."""
    left, right = tokens(a), tokens(b)
    parts: list[tuple[DiffOp, str]] = []

    def add(op: DiffOp, words: list[str]) -> None:
        text = "".join(words)
        if not text:
            return
        if parts and parts[-1][0] == op:
            parts[-1] = (op, parts[-1][1] + text)
        else:
            parts.append((op, text))

    matcher = difflib.SequenceMatcher(None, left, right, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            add("equal", left[i1:i2])
            continue
        add("delete", left[i1:i2])
        add("insert", right[j1:j2])
    return tuple(parts)


def demo_lines(demos: list[str], rows: Mapping[str, Mapping[str, Any]]) -> str:
    """The demos as text, one per line: the id, then its row's fields when known."""
    lines = []
    for demo in demos:
        row = rows.get(demo)
        fields = "" if row is None else " " + "; ".join(
            f"{k}: {v if isinstance(v, str) else json.dumps(v, ensure_ascii=False)}"
            for k, v in row.items())
        lines.append(f"[{demo}]{fields}")
    return "\n".join(lines)


def prompt_sections(prompt: Mapping[str, Any],
                    rows: Mapping[str, Mapping[str, Any]]) -> dict[str, str]:
    """A prompt (``describe``'s shape: system, user, components, demos) as named texts."""
    sections = {"system": str(prompt.get("system", "")), "user": str(prompt.get("user", ""))}
    for name, text in sorted((prompt.get("components") or {}).items()):
        sections[name] = str(text)
    sections["demos"] = demo_lines(list(prompt.get("demos") or []), rows)
    return sections


def prompt_diff(a_label: str, a: Mapping[str, Any], b_label: str, b: Mapping[str, Any],
                rows: Mapping[str, Mapping[str, Any]] | None = None) -> PromptDiff:
    """Section by section, every section either prompt has (demos with ``rows``' fields)."""
    left, right = prompt_sections(a, rows or {}), prompt_sections(b, rows or {})
    names = list(dict.fromkeys([*left, *right]))
    return PromptDiff(a_label, b_label, tuple(
        DiffSection(name, word_diff(left.get(name, ""), right.get(name, ""))) for name in names))
