"""Sticky assignment of units to arms.

A unit is the caller's ``user_id``, else the request id (one request is then its own unit).
``bucket`` maps ``sha256(salt:unit)`` to a uniform number in [0, 1); a unit whose bucket is
below the experiment's split goes to the treatment. The same unit always lands in the same arm
of an experiment, and each experiment has its own salt, so arms of different experiments are
independent.
"""

from __future__ import annotations

import hashlib
import secrets

CONTROL, TREATMENT = "control", "treatment"
ARMS = (CONTROL, TREATMENT)
_SCALE = float(1 << 64)


def new_salt() -> str:
    return secrets.token_hex(8)


def unit_of(user_id: str | None, request_id: str) -> str:
    """The unit a request is assigned by: its user, else the request itself."""
    return f"user:{user_id}" if user_id else f"request:{request_id}"


def bucket(salt: str, unit: str) -> float:
    """A uniform number in [0, 1) from ``sha256(salt:unit)`` (its first 64 bits)."""
    digest = hashlib.sha256(f"{salt}:{unit}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / _SCALE


def assign(salt: str, unit: str, split: float) -> str:
    """``treatment`` when the unit's bucket is below ``split`` (the treatment's share), else
    ``control``."""
    return TREATMENT if bucket(salt, unit) < split else CONTROL
