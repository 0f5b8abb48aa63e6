"""Budget: hard limits on calls, tokens, USD and wall time, shared by every call a run makes.

Two ledgers:

- **real**: what the providers were actually asked. ``calls`` counts every request sent, retries
  included; ``input_tokens``, ``output_tokens`` and ``cost_usd`` what those requests cost. These
  are hard limits: a request is sent only if ``calls < max_calls`` and if its worst case (the
  tokens already spent, plus every request in flight at its worst case, plus this one's estimated
  input and its full ``max_tokens`` output) fits ``max_tokens`` and, priced, ``max_usd``.
- **rollouts**: every request, cached or not, and the tokens and cost it stands for (a cache hit
  stands for what its original call cost). For an evaluation cache hits are free. A search sets
  ``count_cached``: then ``max_calls``, ``max_tokens`` and ``max_usd`` limit the rollout ledger,
  which is the same whether the cache is cold or warm, or the run was resumed, so the same seed
  follows the same trajectory and stops at the same point. The rollout ledger is never below the
  real one (apart from failed retries, which the hard check covers), so the hard limits hold too.
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

    @classmethod
    def of(cls, max_calls: int | None = None, max_tokens: int | None = None,
           max_cost: float | None = None, max_minutes: float | None = None) -> Limits:
        """The limits of the budget flags (``--max-minutes`` in minutes)."""
        return cls(max_calls, max_tokens, max_cost, max_minutes * 60 if max_minutes else None)


@dataclass(frozen=True)
class Estimate:
    """A request's worst case before it is sent: estimated input tokens, all of ``max_tokens``
    as output, and that priced."""

    tokens: int = 0
    usd: float = 0.0


@dataclass
class Ledger:
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0

    @property
    def tokens(self) -> int:
        return self.input_tokens + self.output_tokens

    def add(self, input_tokens: int, output_tokens: int, cost_usd: float) -> None:
        self.input_tokens += input_tokens
        self.output_tokens += output_tokens
        self.cost_usd += cost_usd


@dataclass
class Budget:
    limits: Limits = field(default_factory=Limits)
    calls: int = 0  # real requests sent, retries included
    requests: int = 0  # distinct requests sent to the provider (calls less retries)
    rollouts: int = 0  # every request, cached or not
    count_cached: bool = False
    real: Ledger = field(default_factory=Ledger)
    charged: Ledger = field(default_factory=Ledger)  # the rollout ledger
    started: float = field(default_factory=time.monotonic)
    offset_s: float = 0.0  # wall time spent before a resume
    _in_flight: Estimate = field(default_factory=Estimate)

    @property
    def elapsed_s(self) -> float:
        return self.offset_s + time.monotonic() - self.started

    # what the limits apply to ---------------------------------------------------------------
    @property
    def used_calls(self) -> int:
        return self.rollouts if self.count_cached else self.calls

    @property
    def ledger(self) -> Ledger:
        return self.charged if self.count_cached else self.real

    # reported figures (real spend) ---------------------------------------------------------
    @property
    def input_tokens(self) -> int:
        return self.real.input_tokens

    @property
    def output_tokens(self) -> int:
        return self.real.output_tokens

    @property
    def tokens(self) -> int:
        return self.real.tokens

    @property
    def cost_usd(self) -> float:
        return self.real.cost_usd

    def exhausted(self) -> str | None:
        """The name of the first limit reached, or None."""
        lim, ledger = self.limits, self.ledger
        if lim.max_calls is not None and self.used_calls >= lim.max_calls:
            return "max_calls"
        if lim.max_tokens is not None and ledger.tokens >= lim.max_tokens:
            return "max_tokens"
        if lim.max_usd is not None and ledger.cost_usd >= lim.max_usd:
            return "max_usd"
        if lim.max_seconds is not None and self.elapsed_s >= lim.max_seconds:
            return "max_seconds"
        return None

    def _refuse(self, reason: str) -> BudgetExhausted:
        return BudgetExhausted(reason, self.describe())

    def reserve_call(self, *, cached: bool = False) -> None:
        """Account for one request before it is answered; raise if a limit is reached (cache
        hits are free unless ``count_cached``). A cache miss must then ``start_attempt``."""
        if not cached or self.count_cached:
            reason = self.exhausted()
            if reason:
                raise self._refuse(reason)
        self.rollouts += 1

    def start_attempt(self, estimate: Estimate = Estimate(), *, retry: bool = False) -> None:
        """Admit one real request (the first try, or a ``retry``): the hard limits."""
        lim = self.limits
        if lim.max_calls is not None and self.calls >= lim.max_calls:
            raise self._refuse("max_calls")
        if lim.max_seconds is not None and self.elapsed_s >= lim.max_seconds:
            raise self._refuse("max_seconds")
        worst = Estimate(self.real.tokens + self._in_flight.tokens + estimate.tokens,
                         self.real.cost_usd + self._in_flight.usd + estimate.usd)
        if lim.max_tokens is not None and worst.tokens > lim.max_tokens:
            raise self._refuse("max_tokens")
        if lim.max_usd is not None and worst.usd > lim.max_usd:
            raise self._refuse("max_usd")
        self.calls += 1
        self.requests += 0 if retry else 1
        self._in_flight = Estimate(self._in_flight.tokens + estimate.tokens,
                                   self._in_flight.usd + estimate.usd)

    def end_attempt(self, estimate: Estimate = Estimate()) -> None:
        """Release a finished attempt's worst case (charge what it really cost separately)."""
        self._in_flight = Estimate(self._in_flight.tokens - estimate.tokens,
                                   self._in_flight.usd - estimate.usd)

    def charge(self, input_tokens: int, output_tokens: int, cost_usd: float, *,
               cached: bool = False) -> None:
        """Record a completion's usage: real spend unless it came from the cache; the rollout
        ledger either way."""
        if not cached:
            self.real.add(input_tokens, output_tokens, cost_usd)
        self.charged.add(input_tokens, output_tokens, cost_usd)

    def fits(self, worst: Estimate) -> str | None:
        """The token or USD limit that ``worst`` more would cross on the ledger the limits
        apply to (the rollout ledger in a search: the same cold, warm or resumed), or None."""
        lim, ledger = self.limits, self.ledger
        if lim.max_tokens is not None and ledger.tokens + worst.tokens > lim.max_tokens:
            return "max_tokens"
        if lim.max_usd is not None and ledger.cost_usd + worst.usd > lim.max_usd:
            return "max_usd"
        return None

    def remaining_calls(self) -> int | None:
        if self.limits.max_calls is None:
            return None
        return max(0, self.limits.max_calls - self.used_calls)

    def describe(self) -> str:
        return (f"{self.calls} calls, {self.tokens} tokens, ${self.cost_usd:.4f}, "
                f"{self.elapsed_s:.1f}s")
