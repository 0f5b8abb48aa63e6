"""ModelClient: a Model wrapped with the engine's cache, concurrency limit, retries and Budget.

It is itself a Model, so judges and reflection models get the same treatment as task calls. The
concurrency limit adapts to rate limits (``engine.throttle``).
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

from honed.engine.budget import Budget, Estimate
from honed.engine.cache import ResponseCache
from honed.engine.retry import RetryPolicy
from honed.engine.throttle import RATE_LIMITED, AdaptiveLimit, Ticket
from honed.errors import BudgetExhausted, HonedError, ProviderError
from honed.providers.base import Completion, Model, Request
from honed.types import Usage

Pricer = Callable[[Usage], float]
Done = Callable[[int, "Completion | HonedError"], None]
MESSAGE_OVERHEAD = 8  # tokens a chat message's framing may take


def estimate_input_tokens(request: Request) -> int:
    """A deliberately high estimate of a request's input tokens (half its UTF-8 bytes, plus
    framing): byte-pair tokenizers average 3-4 bytes a token on text, so the hard token and
    USD limits are not crossed by an underestimate."""
    return sum(len(m.content.encode("utf-8")) // 2 + MESSAGE_OVERHEAD for m in request.messages)


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
    throttled: int = 0  # times a rate limit halved the calls in flight

    def copy(self) -> CallStats:
        return CallStats(self.calls, self.cache_hits, self.retries, self.failures,
                         self.input_tokens, self.output_tokens, self.cost_usd,
                         Counter(self.retry_reasons), self.throttled)

    def since(self, before: CallStats) -> CallStats:
        return CallStats(self.calls - before.calls, self.cache_hits - before.cache_hits,
                         self.retries - before.retries, self.failures - before.failures,
                         self.input_tokens - before.input_tokens,
                         self.output_tokens - before.output_tokens,
                         self.cost_usd - before.cost_usd,
                         self.retry_reasons - before.retry_reasons,
                         self.throttled - before.throttled)


class ModelClient:
    """Cache -> budget -> concurrency -> retries -> the model. One per model per run.

    Every attempt (the first try and each retry) is admitted by the budget's hard limits; the
    model is told the concurrency (``use_concurrency``) so its connection pool matches the
    number of calls in flight.
    """

    def __init__(self, model: Model, budget: Budget, *, cache: ResponseCache | None = None,
                 retry: RetryPolicy | None = None, concurrency: int | None = None,
                 stats: CallStats | None = None, price: Pricer | None = None) -> None:
        self.model, self.budget, self.cache = model, budget, cache
        self.retry = retry or RetryPolicy()
        self.concurrency = concurrency or model.default_concurrency
        self.stats = stats if stats is not None else CallStats()
        self.price = price
        self.limit = AdaptiveLimit(self.concurrency)
        configure = getattr(model, "use_concurrency", None)
        if callable(configure):
            configure(self.concurrency)

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
                self._charge(hit, cached=True)
                return hit
        ticket = await self.limit.acquire()
        try:
            self.budget.reserve_call()
            self.stats.calls += 1
            try:
                completion = await self.retry.run(self._attempt(request, ticket),
                                                  self._on_retry,
                                                  pause=lambda: self.limit.released(ticket))
            except ProviderError:
                self.stats.failures += 1
                raise
        finally:
            self.limit.release(ticket)
        self._charge(completion)
        if self._cacheable(request):
            self.cache.put(key, self.model.spec, completion)  # type: ignore[union-attr]
        return completion

    @property
    def supports_batch(self) -> bool:
        return bool(getattr(self.model, "supports_batch", False))

    async def complete_many(self, requests: Sequence[Request], *,
                            on_done: Done | None = None) -> list[Completion | HonedError]:
        """Complete many requests with one ``complete_batch`` call for the cache misses.

        Each request is accounted for as ``complete`` would (cache, budget, stats); a request
        the budget cannot cover gets its BudgetExhausted in place of a completion.
        ``on_done(index, outcome)`` is called in the event loop as each request finishes (cache
        hits and refusals at once, the batch's rows as the model finishes them).
        """
        out: list[Completion | HonedError | None] = [None] * len(requests)
        misses: list[int] = []
        held = Estimate()  # the misses' worst case, admitted together and released together
        for i, request in enumerate(requests):
            hit = self.cache.get(self._key(request)) if self._cacheable(request) else None
            try:
                self.budget.reserve_call(cached=hit is not None)
                if hit is None:
                    estimate = self.estimate(request)
                    self.budget.start_attempt(estimate)
                    held = Estimate(held.tokens + estimate.tokens, held.usd + estimate.usd)
            except BudgetExhausted as exc:
                out[i] = exc
            else:
                if hit is not None:
                    self.stats.cache_hits += 1
                    self._charge(hit, cached=True)
                    out[i] = hit
                else:
                    self.stats.calls += 1
                    misses.append(i)
            if out[i] is not None and on_done is not None:
                on_done(i, out[i])  # type: ignore[arg-type]
        if misses:
            await self._batch(requests, misses, out, on_done, held)
        return [c for c in out if c is not None]

    async def _batch(self, requests: Sequence[Request], misses: list[int],
                     out: list[Completion | HonedError | None], on_done: Done | None,
                     held: Estimate) -> None:
        batch = [requests[i] for i in misses]
        try:
            completions = await self._complete_batch(batch, misses, on_done)
        except ProviderError as exc:
            self.stats.failures += len(misses)
            for i in misses:
                out[i] = exc
                if on_done is not None:
                    on_done(i, exc)
            return
        finally:
            self.budget.end_attempt(held)
        for i, completion in zip(misses, completions, strict=True):
            self._charge(completion)
            if self._cacheable(requests[i]):
                self.cache.put(self._key(requests[i]), self.model.spec,  # type: ignore[union-attr]
                               completion)
            out[i] = completion

    async def _complete_batch(self, batch: list[Request], misses: list[int],
                              on_done: Done | None) -> list[Completion]:
        """The model's ``complete_batch``, relaying per-row completion from its worker thread
        into the event loop when the model reports it."""
        complete_batch = self.model.complete_batch  # type: ignore[attr-defined]
        if on_done is None or "on_done" not in inspect.signature(complete_batch).parameters:
            completions = await complete_batch(batch)
            if on_done is not None:
                for i, completion in zip(misses, completions, strict=True):
                    on_done(i, completion)
            return list(completions)
        loop = asyncio.get_running_loop()

        def relay(j: int, completion: Completion) -> None:
            loop.call_soon_threadsafe(on_done, misses[j], completion)

        return list(await complete_batch(batch, on_done=relay))

    def estimate(self, request: Request) -> Estimate:
        """The worst case of one attempt: estimated input, all of ``max_tokens`` out."""
        usage = Usage(estimate_input_tokens(request), max(request.max_tokens, 0))
        usd = self.price(usage) if self.price is not None else 0.0
        return Estimate(usage.input_tokens + usage.output_tokens, usd)

    def _attempt(self, request: Request,
                 ticket: Ticket) -> Callable[[], Awaitable[Completion]]:
        """One call of the model per attempt, each admitted by the budget. A retry the budget
        refuses ends the call with the last provider error, noted. A rate-limited attempt
        lowers the calls in flight (``engine.throttle``)."""
        estimate = self.estimate(request)
        last: list[ProviderError] = []

        async def attempt() -> Completion:
            try:
                self.budget.start_attempt(estimate, retry=bool(last))
            except BudgetExhausted as exc:
                if not last:
                    raise
                raise type(last[-1])(f"{last[-1]} (no retry: {exc})", status=last[-1].status
                                     ) from None
            try:
                completion = await self.model.complete(request)
            except ProviderError as exc:
                last.append(exc)
                if exc.status in RATE_LIMITED:
                    self.stats.throttled += self.limit.throttled(ticket)
                raise
            finally:
                self.budget.end_attempt(estimate)
            self.limit.succeeded()
            return completion

        return attempt

    def _key(self, request: Request) -> str:
        return request.cache_key(self.cache_namespace)

    def _on_retry(self, error: ProviderError, wait: float) -> None:
        self.stats.retries += 1
        self.stats.retry_reasons[type(error).__name__] += 1

    def _charge(self, c: Completion, *, cached: bool = False) -> None:
        self.budget.charge(c.usage.input_tokens, c.usage.output_tokens, c.cost_usd,
                           cached=cached)
        if cached:
            return
        self.stats.input_tokens += c.usage.input_tokens
        self.stats.output_tokens += c.usage.output_tokens
        self.stats.cost_usd += c.cost_usd

    async def aclose(self) -> None:
        await self.model.aclose()


def now() -> float:
    return time.perf_counter()
