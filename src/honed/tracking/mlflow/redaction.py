"""Redaction: credentials (by key name, known value or shape) never reach the store."""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from typing import Any

MASK = "[REDACTED]"


# redaction ------------------------------------------------------------------------------------
_SENSITIVE = re.compile(r"secret|passw(?:or)?d|credential|authoriz|api_?key|private_?key|"
                        r"cookie|(?:^|_)(?:key|token)$")
_KEY_SHAPES = re.compile(
    r"\b(?:sk|pk|rk)-[A-Za-z0-9_\-]{8,}|\bBearer\s+[A-Za-z0-9._~+/=\-]{8,}|\bAKIA[0-9A-Z]{16}\b"
    r"|\bgh[pousr]_[A-Za-z0-9]{20,}|\bgithub_pat_\w{20,}|\bxox[abprs]-[A-Za-z0-9\-]{10,}"
    r"|\bhf_[A-Za-z0-9]{20,}|\bAIza[0-9A-Za-z_\-]{30,}|\bglpat-[A-Za-z0-9_\-]{20,}")
_RUN = re.compile(r"[A-Za-z0-9+/=_.\-]{24,}")
_PIECE = re.compile(r"[A-Za-z0-9+=]{24,}")


def sensitive_name(name: str) -> bool:
    """Does a key name look like it holds a credential (``api_key``, ``accessToken``, ...)?

    ``input_tokens`` / ``max_tokens`` are counts, not credentials, and are kept.
    """
    snake = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name).lower()
    return _SENSITIVE.search(re.sub(r"[^a-z0-9]+", "_", snake)) is not None


def _random_piece(piece: str) -> bool:
    digit = any(c.isdigit() for c in piece)
    upper, lower = any(c.isupper() for c in piece), any(c.islower() for c in piece)
    return digit and (upper or lower) and ((upper and lower) or len(piece) >= 32)


def _mask_random(match: re.Match[str]) -> str:
    run = match.group(0)
    return MASK if any(_random_piece(p) for p in _PIECE.findall(run)) else run


def env_secrets(extra_names: Iterable[str] = ()) -> frozenset[str]:
    """Values of environment variables named like credentials (and of ``extra_names``)."""
    names = set(extra_names)
    return frozenset(v for k, v in os.environ.items()
                     if (k in names or sensitive_name(k)) and len(v) >= 8)


def mask_text(text: str, secrets: Iterable[str] = ()) -> str:
    """Mask known secret values, key-shaped strings and long random-looking tokens."""
    for secret in sorted(secrets, key=len, reverse=True):
        if secret:
            text = text.replace(secret, MASK)
    return _RUN.sub(_mask_random, _KEY_SHAPES.sub(MASK, text))


def redact(mapping: Mapping[str, Any], secrets: Iterable[str] | None = None) -> dict[str, Any]:
    """Drop credential-named keys and mask key-looking values, recursively."""
    found = env_secrets() if secrets is None else frozenset(secrets)
    return {str(k): _clean(v, found) for k, v in mapping.items() if not sensitive_name(str(k))}


def _clean(value: Any, secrets: frozenset[str]) -> Any:
    if isinstance(value, str):
        return mask_text(value, secrets)
    if isinstance(value, Mapping):
        return redact(value, secrets)
    if isinstance(value, list | tuple):
        return [_clean(v, secrets) for v in value]
    return value
