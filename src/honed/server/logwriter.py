"""Group commit for the request log: rows that arrive while a commit is running are written
together in the next one, and each request still waits for its own row to be committed before it
is answered (durable before acknowledged, without a commit per request)."""

from __future__ import annotations

import asyncio
from typing import Any


class LogWriter:
    def __init__(self, store: Any) -> None:
        self.store = store
        self._pending: list[tuple[dict[str, Any], asyncio.Future[None]]] = []
        self._drainer: asyncio.Task[None] | None = None

    async def write(self, row: dict[str, Any]) -> None:
        """Return once ``row`` is committed (raise what the store raised for its batch)."""
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pending.append((row, future))
        if self._drainer is None or self._drainer.done():
            self._drainer = asyncio.ensure_future(self._drain())
        await future

    async def _drain(self) -> None:
        while self._pending:
            batch, self._pending = self._pending, []
            try:
                await asyncio.to_thread(self.store.log_requests, [row for row, _ in batch])
            except Exception as exc:
                for _, future in batch:
                    if not future.done():
                        future.set_exception(exc)
            else:
                for _, future in batch:
                    if not future.done():
                        future.set_result(None)
