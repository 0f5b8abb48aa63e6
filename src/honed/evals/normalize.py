"""Text normalization for comparisons, and the short text helpers scorers use in feedback.

``normalize`` applies a ``Normalize`` spec; ``clip`` quotes text for feedback (truncated);
``diff`` renders a compact word or character diff (``[-removed-]{+added+}``, as ``wdiff`` does).
"""

from __future__ import annotations

import difflib
import re
import unicodedata

from honed.task.eval_specs import Normalize

CLIP_CHARS = 200
_SPACES = re.compile(r"\s+")
_TOKENS = re.compile(r"\s+|\w+|[^\w\s]")


def first_line(text: str) -> str:
    """The first line that is not blank (the whole text when every line is blank)."""
    return next((line for line in text.splitlines() if line.strip()), text)


def strip_punctuation(text: str) -> str:
    """Drop every Unicode punctuation character (categories ``P*``)."""
    return "".join(ch for ch in text if not unicodedata.category(ch).startswith("P"))


def normalize(text: str, spec: Normalize | None = None) -> str:
    """Apply ``spec`` (defaults: ignore case, strip, collapse whitespace) to ``text``."""
    spec = spec or Normalize()
    if spec.first_line:
        text = first_line(text)
    if spec.strip_punctuation:
        text = strip_punctuation(text)
    if spec.collapse_whitespace:
        text = _SPACES.sub(" ", text)
    if spec.strip:
        text = text.strip()
    if spec.ignore_case:
        text = text.casefold()
    return text


def shorten(text: str, limit: int = CLIP_CHARS) -> str:
    """``text`` cut to ``limit`` characters, with an ellipsis when cut."""
    return text if len(text) <= limit else text[:limit] + "…"


def clip(text: str, limit: int = CLIP_CHARS) -> str:
    """``text`` quoted for feedback, cut to about ``limit`` characters."""
    if len(text) > limit:
        return repr(text[:limit]) + f"… (+{len(text) - limit} chars)"
    return repr(text)


def _pieces(a: str, b: str) -> tuple[list[str], list[str]]:
    """Words, spaces and punctuation when either text has several words, else characters."""
    if len(a.split()) > 1 or len(b.split()) > 1:
        return _TOKENS.findall(a), _TOKENS.findall(b)
    return list(a), list(b)


def diff(expected: str, actual: str, limit: int = CLIP_CHARS) -> str:
    """Compact diff from ``expected`` to ``actual``: ``[-gone-]`` and ``{+new+}`` marks.

    Words are compared when either text has more than one word, characters otherwise.
    """
    a, b = _pieces(expected, actual)
    parts: list[str] = []
    matcher = difflib.SequenceMatcher(a=a, b=b, autojunk=False)
    for op, i1, i2, j1, j2 in matcher.get_opcodes():
        if op == "equal":
            parts.append("".join(a[i1:i2]))
            continue
        if op in ("delete", "replace"):
            parts.append("[-" + "".join(a[i1:i2]) + "-]")
        if op in ("insert", "replace"):
            parts.append("{+" + "".join(b[j1:j2]) + "+}")
    return shorten("".join(parts), limit)


def closest(text: str, options: list[str]) -> str | None:
    """The option most similar to ``text``, if any is reasonably close."""
    matches = difflib.get_close_matches(text, options, n=1, cutoff=0.6)
    return matches[0] if matches else None
