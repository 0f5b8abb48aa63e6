"""ModelClient: a Model wrapped with the engine's cache, concurrency limit, retries and Budget.

It is itself a Model, so judges and reflection models get the same treatment as task calls.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from dataclasses import dataclass, field

from honed.engine.budget import Budget
from honed.engine.cache import ResponseCache
from honed.engine.retry import RetryPolicy
from honed.errors import ProviderError
from honed.providers.base import Completion, Model, Request


@dataclass
class CallStats:
    calls: int = 0
    cache_hits: int = 0
    retries: int = 0
    failures: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0
    retry_reasons: Counter[str] = field(default_factory=Counter)

    def copy(self) -> CallStats:
        return CallStats(self.calls, self.cache_hits, self.retries, self.failures,
                         self.input_tokens, self.output_tokens, self.cost_usd,
                         Counter(self.retry_reasons))

    def since(self, before: CallStats) -> CallStats:
        return CallStats(self.calls - before.calls, self.cache_hits - before.cache_hits,
                         self.retries - before.retries, self.failures - before.failures,
                         self.input_tokens - before.input_tokens,
                         self.output_tokens - before.output_tokens,
                         self.cost_usd - before.cost_usd,
                         self.retry_reasons - before.retry_reasons)


class ModelClient:
    """Cache -> budget -> concurrency -> retries -> the model. One per model per run."""

    def __init__(self, model: Model, budget: Budget, *, cache: ResponseCache | None = None,
                 retry: RetryPolicy | None = None, concurrency: int | None = None,
                 stats: CallStats | None = None) -> None:
        self.model, self.budget, self.cache = model, budget, cache
        self.retry = retry or RetryPolicy()
        self.concurrency = concurrency or model.default_concurrency
        self.stats = stats if stats is not None else CallStats()
        self._slots = asyncio.Semaphore(self.concurrency)

    @property
    def spec(self) -> str:
        return self.model.spec

    @property
    def default_concurrency(self) -> int:
        return self.concurrency

    @property
    def constrains_output(self) -> bool:
        return self.model.constrains_output

    def _cacheable(self, request: Request) -> bool:
        return self.cache is not None and (request.temperature == 0 or request.seed is not None)

    @property
    def cache_namespace(self) -> str:
        return str(getattr(self.model, "cache_namespace", self.model.spec))

    async def complete(self, request: Request) -> Completion:
        key = request.cache_key(self.cache_namespace)
        if self._cacheable(request):
            hit = self.cache.get(key)  # type: ignore[union-attr]
            if hit is not None:
                self.budget.reserve_call(cached=True)
                self.stats.cache_hits += 1
                return hit
        async with self._slots:
            self.budget.reserve_call()
            self.stats.calls += 1
            try:
                completion = await self.retry.run(lambda: self.model.complete(request),
                                                  self._on_retry)
            except ProviderError:
                self.stats.failures += 1
                raise
        self._charge(completion)
        if self._cacheable(request):
            self.cache.put(key, self.model.spec, completion)  # type: ignore[union-attr]
        return completion

    def _on_retry(self, error: ProviderError, wait: float) -> None:
        self.stats.retries += 1
        self.stats.retry_reasons[type(error).__name__] += 1

    def _charge(self, c: Completion) -> None:
        self.budget.charge(c.usage.input_tokens, c.usage.output_tokens, c.cost_usd)
        self.stats.input_tokens += c.usage.input_tokens
        self.stats.output_tokens += c.usage.output_tokens
        self.stats.cost_usd += c.cost_usd

    async def aclose(self) -> None:
        await self.model.aclose()


def now() -> float:
    return time.perf_counter()
