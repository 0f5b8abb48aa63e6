"""Budget: limits on calls, tokens, USD and wall time, shared by every call a run makes.

Calls are reserved *before* they start, so ``max_calls`` is never exceeded even with many calls in
flight; tokens and cost are only known afterwards, so those limits stop new calls once reached.

``rollouts`` counts every request, cached or not. For an evaluation cache hits are free; a search
sets ``count_cached`` so that ``max_calls`` limits rollouts: then the same seed follows the same
trajectory whether the cache is cold or warm, and a resumed run replays its finished work for free.
Real model calls never exceed rollouts, so the limit still bounds spend.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from honed.errors import BudgetExhausted


@dataclass(frozen=True)
class Limits:
    max_calls: int | None = None
    max_tokens: int | None = None
    max_usd: float | None = None
    max_seconds: float | None = None


@dataclass
class Budget:
    limits: Limits = field(default_factory=Limits)
    calls: int = 0
    rollouts: int = 0
    count_cached: bool = False
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0
    started: float = field(default_factory=time.monotonic)
    offset_s: float = 0.0  # wall time spent before a resume

    @property
    def elapsed_s(self) -> float:
        return self.offset_s + time.monotonic() - self.started

    @property
    def tokens(self) -> int:
        return self.input_tokens + self.output_tokens

    def exhausted(self) -> str | None:
        """The name of the first limit reached, or None."""
        lim = self.limits
        if lim.max_calls is not None and self.used_calls >= lim.max_calls:
            return "max_calls"
        if lim.max_tokens is not None and self.tokens >= lim.max_tokens:
            return "max_tokens"
        if lim.max_usd is not None and self.cost_usd >= lim.max_usd:
            return "max_usd"
        if lim.max_seconds is not None and self.elapsed_s >= lim.max_seconds:
            return "max_seconds"
        return None

    @property
    def used_calls(self) -> int:
        return self.rollouts if self.count_cached else self.calls

    def reserve_call(self, *, cached: bool = False) -> None:
        """Account for one request; raise if a limit is reached (cache hits are free unless
        ``count_cached``)."""
        if not cached or self.count_cached:
            reason = self.exhausted()
            if reason:
                raise BudgetExhausted(reason, self.describe())
        self.rollouts += 1
        if not cached:
            self.calls += 1

    def charge(self, input_tokens: int, output_tokens: int, cost_usd: float) -> None:
        self.input_tokens += input_tokens
        self.output_tokens += output_tokens
        self.cost_usd += cost_usd

    def remaining_calls(self) -> int | None:
        if self.limits.max_calls is None:
            return None
        return max(0, self.limits.max_calls - self.used_calls)

    def describe(self) -> str:
        return (f"{self.calls} calls, {self.tokens} tokens, ${self.cost_usd:.4f}, "
                f"{self.elapsed_s:.1f}s")
