"""Bearer keys and per-key rate limits.

Every route but ``/healthz`` needs ``Authorization: Bearer KEY`` with a key from the store:
401 without one or with an unknown or revoked key, 403 when its scope does not cover the route
(``admin`` covers all). Each key gets a token bucket; an empty bucket answers 429 with
``Retry-After``.
"""

from __future__ import annotations

import asyncio
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Request

from honed.server.errors import ApiError

ADMIN = "admin"


@dataclass(frozen=True)
class Caller:
    """Who made a request: the key's id and scope."""

    key_id: str
    scope: str


def identify(store: Any, token: str, scope: str) -> Caller:
    """The caller behind ``token`` for a route that needs ``scope`` (401 / 403 otherwise)."""
    row = store.check_key(token, scope)
    if row is None:
        raise ApiError(401, "unknown or revoked key", code="invalid_key",
                       headers={"WWW-Authenticate": "Bearer"})
    if not row.allows(scope):
        raise ApiError(403, f"this key's scope {row.scope!r} does not cover this route "
                            f"(it needs {scope!r} or {ADMIN!r})", code="wrong_scope")
    return Caller(row.id, row.scope)


class RateLimiter:
    """A token bucket per key: ``per_minute`` requests a minute, bursts up to ``burst``."""

    def __init__(self, per_minute: float, burst: int | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.rate = per_minute / 60.0
        self.burst = float(burst if burst is not None else max(1, int(per_minute)))
        self.clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def take(self, key: str) -> float:
        """0 when the request may go ahead, else the seconds to wait."""
        now = self.clock()
        with self._lock:
            tokens, then = self._buckets.get(key, (self.burst, now))
            tokens = min(self.burst, tokens + (now - then) * self.rate)
            if tokens >= 1:
                self._buckets[key] = (tokens - 1, now)
                return 0.0
            self._buckets[key] = (tokens, now)
            return (1 - tokens) / self.rate if self.rate > 0 else 60.0


def require(scope: str) -> Callable[[Request], Caller]:
    """A FastAPI dependency: the caller, checked for ``scope`` and rate-limited."""

    async def dependency(request: Request) -> Caller:
        header = request.headers.get("authorization", "")
        kind, _, token = header.partition(" ")
        if kind.lower() != "bearer" or not token.strip():
            raise ApiError(401, "missing bearer key: send 'Authorization: Bearer KEY'",
                           code="missing_key", headers={"WWW-Authenticate": "Bearer"})
        state = request.app.state
        caller = await asyncio.to_thread(identify, state.store, token.strip(), scope)
        wait = state.limiter.take(caller.key_id) if state.limiter is not None else 0.0
        if wait > 0:
            raise ApiError(429, f"rate limit reached; retry in {math.ceil(wait)} s",
                           code="rate_limited", headers={"Retry-After": str(math.ceil(wait))})
        return caller

    return dependency


ServeKey = Annotated[Caller, Depends(require("serve"))]
FeedbackKey = Annotated[Caller, Depends(require("feedback"))]
AdminKey = Annotated[Caller, Depends(require(ADMIN))]
