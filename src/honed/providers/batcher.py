"""Gather concurrent single requests into batched calls.

A tool that only sends one request per HTTP call (DSPy through the model server) still runs
many at once from its threads. ``MicroBatcher`` queues the greedy ones for a few milliseconds and
hands them to ``complete_many`` together, so a model that batches (the embedded model's
shared-prefix decoding) computes a candidate's common prompt prefix once for all of them.
Sampled requests (temperature > 0) go straight to ``complete``: they are not batched.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Protocol

from honed.errors import HonedError
from honed.providers.base import Completion, Request


class BatchingClient(Protocol):
    """What the batcher needs: ``ModelClient`` has both."""

    async def complete(self, request: Request) -> Completion: ...

    async def complete_many(self, requests: Sequence[Request],
                            ) -> list[Completion | HonedError]: ...


class MicroBatcher:
    """``complete`` that batches greedy requests arriving within ``window_s`` of each other.

    One batch runs at a time; requests that arrive while it runs form the next one. Each caller
    gets its own completion or its own error (e.g. ``BudgetExhausted`` for the requests the
    budget could not cover).
    """

    def __init__(self, client: BatchingClient, *, window_s: float = 0.005,
                 max_batch: int = 64) -> None:
        self.client, self.window_s, self.max_batch = client, window_s, max_batch
        self.batches = 0
        self._queue: list[tuple[Request, asyncio.Future[Completion | BaseException]]] = []
        self._worker: asyncio.Task[None] | None = None

    async def complete(self, request: Request) -> Completion:
        if request.temperature > 0:
            return await self.client.complete(request)
        future: asyncio.Future[Completion | BaseException] = (
            asyncio.get_running_loop().create_future())
        self._queue.append((request, future))
        if self._worker is None or self._worker.done():
            self._worker = asyncio.create_task(self._drain())
        result = await future
        if isinstance(result, BaseException):
            raise result
        return result

    async def _drain(self) -> None:
        while self._queue:
            await asyncio.sleep(self.window_s)  # let the other callers of this round join
            batch, self._queue = self._queue[:self.max_batch], self._queue[self.max_batch:]
            results: Sequence[Completion | BaseException]
            try:
                results = await self.client.complete_many([r for r, _ in batch])
            except Exception as exc:  # the whole batch failed: every caller gets the error
                results = [exc] * len(batch)
            self.batches += 1
            for (_, future), result in zip(batch, results, strict=True):
                if not future.done():  # its caller may have gone away
                    future.set_result(result)
