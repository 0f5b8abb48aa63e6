"""ModelClient: a Model wrapped with the engine's cache, concurrency limit, retries and Budget.

It is itself a Model, so judges and reflection models get the same treatment as task calls.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

from honed.engine.budget import Budget
from honed.engine.cache import ResponseCache
from honed.engine.retry import RetryPolicy
from honed.errors import BudgetExhausted, HonedError, ProviderError
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
        key = self._key(request)
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

    @property
    def supports_batch(self) -> bool:
        return bool(getattr(self.model, "supports_batch", False))

    async def complete_many(self, requests: Sequence[Request],
                            ) -> list[Completion | HonedError]:
        """Complete many requests with one ``complete_batch`` call for the cache misses.

        Each request is accounted for as ``complete`` would (cache, budget, stats); a request
        the budget cannot cover gets its BudgetExhausted in place of a completion.
        """
        out: list[Completion | HonedError | None] = [None] * len(requests)
        misses: list[int] = []
        for i, request in enumerate(requests):
            hit = self.cache.get(self._key(request)) if self._cacheable(request) else None
            try:
                self.budget.reserve_call(cached=hit is not None)
            except BudgetExhausted as exc:
                out[i] = exc
                continue
            if hit is not None:
                self.stats.cache_hits += 1
                out[i] = hit
            else:
                self.stats.calls += 1
                misses.append(i)
        if misses:
            await self._batch(requests, misses, out)
        return [c for c in out if c is not None]

    async def _batch(self, requests: Sequence[Request], misses: list[int],
                     out: list[Completion | HonedError | None]) -> None:
        batch = [requests[i] for i in misses]
        try:
            completions = await self.model.complete_batch(batch)  # type: ignore[attr-defined]
        except ProviderError as exc:
            self.stats.failures += len(misses)
            for i in misses:
                out[i] = exc
            return
        for i, completion in zip(misses, completions, strict=True):
            self._charge(completion)
            if self._cacheable(requests[i]):
                self.cache.put(self._key(requests[i]), self.model.spec,  # type: ignore[union-attr]
                               completion)
            out[i] = completion

    def _key(self, request: Request) -> str:
        return request.cache_key(self.cache_namespace)

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
