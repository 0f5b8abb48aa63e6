"""Retries with exponential backoff and full jitter, honouring Retry-After."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from typing import TypeVar

from honed.errors import ProviderError

T = TypeVar("T")


@dataclass
class RetryPolicy:
    max_retries: int = 4
    base_delay_s: float = 0.5
    max_delay_s: float = 30.0
    rng: random.Random = field(default_factory=random.Random)

    def delay(self, attempt: int, error: ProviderError) -> float:
        if error.retry_after is not None:
            return min(max(error.retry_after, 0.0), self.max_delay_s)
        ceiling = min(self.max_delay_s, self.base_delay_s * 2 ** attempt)
        return self.rng.uniform(0, ceiling)

    async def run(self, call: Callable[[], Awaitable[T]],
                  on_retry: Callable[[ProviderError, float], None] | None = None, *,
                  pause: Callable[[], AbstractAsyncContextManager[None]] | None = None) -> T:
        """``call`` until it succeeds, a non-retryable error, or ``max_retries``; ``pause``
        wraps each backoff wait (the client gives up its slot there)."""
        attempt = 0
        while True:
            try:
                return await call()
            except ProviderError as error:
                if not error.retryable or attempt >= self.max_retries:
                    raise
                wait = self.delay(attempt, error)
                if on_retry is not None:
                    on_retry(error, wait)
                attempt += 1
                if pause is None:
                    await asyncio.sleep(wait)
                else:
                    async with pause():
                        await asyncio.sleep(wait)
