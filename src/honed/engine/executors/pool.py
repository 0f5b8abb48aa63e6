"""The driver side of the ray executor: a pool of actors answering cells of requests.

Requests that reach the pool in the same turn of the event loop (an evaluation's examples,
released together by the engine's concurrency limit) are grouped into **cells** of up to
``cell`` requests; each cell goes to the live actor with the fewest requests in flight, in one
Ray call. The driver keeps more requests in flight than the actors' slots (``PIPELINE``), so an
actor always has its next cell queued while it answers the current one.

An actor that dies (killed, its node lost) fails its cells with ``ActorLost``: a retryable
provider error (``retry_after=0``), so the engine's client sends those requests again, each
admitted by the budget and counted as a retry, and they land on the surviving actors or on the
replacement the pool starts at once. After ``max_lost`` losses the pool stops replacing actors.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from honed.engine.executors.worker import decode_error
from honed.errors import ConfigError, ProviderError, TransportError
from honed.providers.base import Completion, Request

PIPELINE = 2  # requests the driver keeps in flight per actor slot
START_TIMEOUT_S = 300.0


class ActorLost(TransportError):
    """The Ray actor answering a cell was lost; its requests are dispatched again."""


@dataclass(eq=False)  # one per actor: compared by identity
class _Actor:
    handle: Any
    name: str
    in_flight: int = 0


@dataclass
class PoolStats:
    actors: int = 0
    cells: int = 0
    requests: int = 0
    actors_lost: int = 0
    cells_lost: int = 0
    replaced: int = 0

    def to_dict(self) -> dict[str, int]:
        return dict(self.__dict__)


@dataclass
class _Pending:
    requests: list[Request] = field(default_factory=list)
    futures: list[asyncio.Future[Completion]] = field(default_factory=list)


class CellPool:
    """``actors`` actors made by ``make(name)``; see the module docstring."""

    def __init__(self, ray: Any, make: Callable[[str], Any], *, actors: int, prefix: str,
                 cell: int | None = None, max_lost: int | None = None) -> None:
        self._ray, self._make, self._prefix = ray, make, prefix
        self._names = (f"{prefix}-{i}" for i in itertools.count())
        self._actors = [self._new() for _ in range(actors)]
        self.stats = PoolStats(actors=actors)
        self._cell = cell
        self.cell = cell or 1
        self._max_lost = max_lost if max_lost is not None else 4 * actors + 4
        self._pending = _Pending()
        self._flush_due = False
        self._tasks: set[asyncio.Task[None]] = set()

    def _new(self) -> _Actor:
        name = next(self._names)
        return _Actor(self._make(name), name)

    @property
    def names(self) -> list[str]:
        return [a.name for a in self._actors]

    def batch_cell(self, n: int) -> int:
        """The cell size for a batch of ``n``: ``cell=`` if given, else an even share per
        live actor."""
        return self._cell or max(1, -(-n // max(1, len(self._actors))))

    def start(self, timeout_s: float = START_TIMEOUT_S) -> dict[str, Any]:
        """Wait until every actor has built its model; what the first one reports."""
        try:
            infos = self._ray.get([a.handle.describe.remote() for a in self._actors],
                                  timeout=timeout_s)
        except self._ray.exceptions.GetTimeoutError:
            raise ConfigError(f"{len(self._actors)} Ray actors did not start within "
                              f"{timeout_s:.0f}s (cluster resources: "
                              f"{self._ray.available_resources()})", field="--executor",
                              fix="use fewer actors (ray?actors=N) or a smaller cpus= "
                                  "share, or add nodes") from None
        except self._ray.exceptions.RayError as exc:  # an actor died while starting
            last = (str(exc).strip().splitlines() or [type(exc).__name__])[-1][:300]
            raise ConfigError(f"the Ray actors could not start: {last}", field="--executor",
                              fix="install honed, in the driver's version, with the extras "
                                  "the model needs on every node") from None
        for info in infos:
            if info.get("error"):
                raise decode_error(info["error"])
        self.cell = self._cell or max(1, int(infos[0]["concurrency"]))
        return dict(infos[0])

    # dispatch ------------------------------------------------------------------------------
    async def submit(self, request: Request) -> Completion:
        """One request, answered in a cell with the others submitted in the same turn."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Completion] = loop.create_future()
        self._pending.requests.append(request)
        self._pending.futures.append(future)
        if len(self._pending.requests) >= self.cell:
            self._flush()
        elif not self._flush_due:
            self._flush_due = True
            loop.call_soon(self._flush)
        return await future

    def _flush(self) -> None:
        self._flush_due = False
        pending, self._pending = self._pending, _Pending()
        for start in range(0, len(pending.requests), self.cell):
            stop = start + self.cell
            self._track(self._send(pending.requests[start:stop], pending.futures[start:stop]))

    def _track(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _send(self, requests: list[Request],
                    futures: list[asyncio.Future[Completion]]) -> None:
        try:
            outcomes = await self.call(requests)
        except asyncio.CancelledError:
            for future in futures:
                future.cancel()
            raise
        except Exception as exc:  # the cell failed as a whole: every request with it
            for future in futures:
                if not future.done():
                    future.set_exception(_copy(exc))
            return
        for future, outcome in zip(futures, outcomes, strict=True):
            if future.done():
                continue
            if outcome[0] == "ok":
                future.set_result(outcome[1])
            else:
                future.set_exception(decode_error(outcome))

    async def call(self, requests: Sequence[Request], *, batch: bool = False) -> list[Any]:
        """One cell on the least busy live actor; ``ActorLost`` if that actor dies."""
        if not self._actors:
            raise ProviderError(f"every Ray actor of this model was lost "
                                f"({self.stats.actors_lost} losses)")
        actor = min(self._actors, key=lambda a: a.in_flight)
        actor.in_flight += len(requests)
        self.stats.cells += 1
        self.stats.requests += len(requests)
        try:
            return list(await actor.handle.run.remote(list(requests), batch))
        except self._ray.exceptions.RayActorError as exc:
            self._lose(actor)
            raise ActorLost(f"Ray actor {actor.name} was lost ({type(exc).__name__}) with a "
                            f"cell of {len(requests)} requests in flight", retry_after=0
                            ) from None
        finally:
            actor.in_flight -= len(requests)

    def _lose(self, actor: _Actor) -> None:
        """Count a cell lost; the first time an actor is found dead, replace it."""
        self.stats.cells_lost += 1
        if actor not in self._actors:
            return
        self._actors.remove(actor)
        self.stats.actors_lost += 1
        self._kill(actor)
        if self.stats.actors_lost <= self._max_lost:
            self._actors.append(self._new())
            self.stats.replaced += 1

    def _kill(self, actor: _Actor) -> None:
        try:
            self._ray.kill(actor.handle, no_restart=True)
        except Exception:  # already gone
            return

    def kill(self) -> None:
        """Stop the cells in flight and kill every actor (idempotent)."""
        for task in list(self._tasks):
            task.cancel()
        for actor in self._actors:
            self._kill(actor)
        self._actors = []

    async def aclose(self) -> None:
        self.kill()


def _copy(exc: Exception) -> Exception:
    """A provider error of its own for each request of a failed cell (each is retried and
    reported apart); other errors as they are."""
    if isinstance(exc, ProviderError):
        return type(exc)(str(exc), status=exc.status, retry_after=exc.retry_after)
    return exc
