"""Calls in flight that adapt to rate limits, as TCP adapts to congestion (AIMD).

A ``ModelClient`` admits each attempt through an ``AdaptiveLimit`` whose ceiling is the
configured concurrency. A rate-limited attempt (HTTP 429, or 529 "overloaded") halves the limit,
once per window: only an attempt admitted since the last cut can cut again, so a burst of 429s
from the same round counts once. Every ``limit`` successes in a row raise it by one, back up to
the ceiling. A retry waits for its backoff without a slot and is admitted again under the limit
of the moment, so retries stop hammering a provider that asked for less.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

RATE_LIMITED = (429, 529)


@dataclass
class Ticket:
    """One call's hold on the limit: the window it was admitted in, and whether it holds a
    slot now (not while it waits to retry)."""

    window: int
    held: bool = True


class AdaptiveLimit:
    def __init__(self, ceiling: int) -> None:
        self.ceiling = self.limit = self.lowest = max(1, int(ceiling))
        self.in_flight = 0
        self.cuts = 0  # times the limit was halved; also the current window's number
        self._streak = 0
        self._waiters: deque[asyncio.Future[None]] = deque()

    async def acquire(self) -> Ticket:
        while self.in_flight >= self.limit:
            turn: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._waiters.append(turn)
            try:
                await turn
            except BaseException:
                if turn in self._waiters:
                    self._waiters.remove(turn)
                elif turn.done() and not turn.cancelled():
                    self._wake()  # woken, then cancelled: pass the turn on
                raise
        self.in_flight += 1
        return Ticket(self.cuts)

    def release(self, ticket: Ticket) -> None:
        if ticket.held:
            ticket.held = False
            self.in_flight -= 1
            self._wake()

    @asynccontextmanager
    async def released(self, ticket: Ticket) -> AsyncIterator[None]:
        """Give the slot up while waiting (a retry's backoff), then queue for one again."""
        self.release(ticket)
        yield
        again = await self.acquire()
        ticket.window, ticket.held = again.window, True

    def throttled(self, ticket: Ticket) -> bool:
        """The provider rate-limited an attempt: halve the limit, once per window. Returns
        whether this call cut it."""
        if ticket.window != self.cuts:
            return False  # admitted before the last cut: that cut answered it already
        self.limit = max(1, self.limit // 2)
        self.lowest = min(self.lowest, self.limit)
        self.cuts += 1
        self._streak = 0
        return True

    def succeeded(self) -> None:
        """An attempt went through: after ``limit`` in a row, allow one more in flight."""
        self._streak += 1
        if self._streak >= self.limit and self.limit < self.ceiling:
            self.limit += 1
            self._streak = 0
            self._wake()

    def _wake(self) -> None:
        free = self.limit - self.in_flight
        while free > 0 and self._waiters:
            turn = self._waiters.popleft()
            if not turn.done():
                turn.set_result(None)
                free -= 1
