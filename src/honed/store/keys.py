"""honed's own API keys: random ``hnd_`` tokens, stored only as a SHA-256 hash.

Scopes: ``admin`` may do everything, ``serve`` may call the completion and prompt endpoints,
``feedback`` may post feedback. ``check_key`` answers who a key is (or None: unknown or revoked,
a 401); ``KeyRow.allows`` answers whether it may do a thing (a 403 when not).
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from typing import Any

KEY_PREFIX = "hnd_"
SCOPES = ("serve", "feedback", "admin")


def new_key() -> str:
    """A fresh key: ``hnd_`` and 32 URL-safe characters (192 random bits)."""
    return KEY_PREFIX + secrets.token_urlsafe(24)


def new_key_id() -> str:
    return "key_" + secrets.token_hex(6)


def hash_key(plaintext: str) -> str:
    return hashlib.sha256(plaintext.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class KeyRow:
    """A key as stored, without its hash."""

    id: str
    name: str
    scope: str
    created: float
    revoked_at: float | None = None
    last_used: float | None = None
    granted: bool | None = None  # set by ``check_key(key, scope)``: may it act in that scope?

    @property
    def revoked(self) -> bool:
        return self.revoked_at is not None

    def allows(self, scope: str) -> bool:
        """May this key act in ``scope``? ``admin`` may do everything."""
        return not self.revoked and (self.scope == "admin" or self.scope == scope)

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "scope": self.scope, "created": self.created,
                "revoked_at": self.revoked_at, "last_used": self.last_used}


def key_row(mapping: Any) -> KeyRow:
    return KeyRow(id=mapping["id"], name=mapping["name"], scope=mapping["scope"],
                  created=mapping["created"], revoked_at=mapping["revoked_at"],
                  last_used=mapping["last_used"])
