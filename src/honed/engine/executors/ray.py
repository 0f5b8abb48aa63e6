"""The ray executor: model calls answered by Ray actors, everything else on the driver.

``RayExecutor`` connects to a cluster (``ray:ADDRESS``; plain ``ray`` uses ``$RAY_ADDRESS`` or
starts a local one) and, for every model an engine needs (the task model, each judge), starts a
``CellPool`` of actors that build that model themselves. ``RayModel`` stands in for the model on
the driver: the engine's client wraps it exactly as it wraps a local model (cache, budget,
retries, concurrency), so a cache hit is never dispatched, every attempt is admitted by the
driver's budget first, and the same seed and budget give the same result as in this process.

Concurrency is per actor: ``--concurrency 16`` with two actors keeps up to 32 calls in flight at
the endpoint (and twice that queued on the driver's side, see ``pool.PIPELINE``).

Ray is an optional extra and is imported only here, when the executor is used.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from honed.engine.executors.base import ExecutorSpec
from honed.engine.executors.pool import PIPELINE, ActorLost, CellPool
from honed.engine.executors.worker import CellWorker, decode_error
from honed.errors import ConfigError
from honed.providers.base import Completion, Request

if TYPE_CHECKING:
    from honed.providers.base import Model
    from honed.task.task import ModelConfig, Task

INSTALL = 'pip install "honed[ray]"'
BATCH_ATTEMPTS = 5  # dispatches of one batch cell before its actor losses count as a failure


def require_ray(field: str = "--executor") -> Any:
    """The ``ray`` module, or a ConfigError that says how to install it."""
    try:
        import ray
    except ImportError:
        raise ConfigError("the ray executor needs Ray, which is not installed", field=field,
                          fix=f'{INSTALL} (or pip install "ray>=2.9")') from None
    return ray


def connect(address: str | None, field: str = "--executor") -> Any:
    """Ray, initialised: the running connection if there is one, else ``address`` (None:
    ``$RAY_ADDRESS``, or a new local cluster)."""
    ray = require_ray(field)
    if ray.is_initialized():
        return ray
    try:
        ray.init(address=address, log_to_driver=False, logging_level=logging.WARNING)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        where = f"at {address!r}" if address else "(local)"
        raise ConfigError(f"cannot connect to the Ray cluster {where}: {exc}", field=field,
                          fix="start one with `ray start --head` and pass its address "
                              "(ray:HOST:6379, ray:auto or ray:ray://HOST:10001), or write "
                              "ray to start a local one") from None
    return ray


def cluster_cpus(ray: Any) -> int:
    return max(1, int(ray.cluster_resources().get("CPU", 1)))


class RayModel:
    """The driver's stand-in for a model whose calls a ``CellPool`` answers."""

    def __init__(self, pool: CellPool, info: dict[str, Any], actors: int) -> None:
        self._pool = pool
        self.spec: str = info["spec"]
        self.cache_namespace: str = info["cache_namespace"]
        self.constrains_output: bool = bool(info["constrains_output"])
        self.supports_batch: bool = bool(info["supports_batch"])
        self.per_actor = int(info["concurrency"])
        self.default_concurrency = self.per_actor * actors * PIPELINE

    def __repr__(self) -> str:
        return f"RayModel(spec={self.spec!r}, actors={self._pool.names})"

    async def complete(self, request: Request) -> Completion:
        return await self._pool.submit(request)

    async def complete_batch(self, requests: Sequence[Request], on_done: Any = None,
                             ) -> list[Completion]:
        """A batch for a model that batches (the embedded one): cells across the actors, each
        decoded with the actor's ``complete_batch``; a cell whose actor is lost is dispatched
        again (counted in the executor's stats). Rows are reported as their cell returns.
        Unless ``cell=`` says otherwise, the batch is split evenly over the live actors, so
        each decodes its share as one batch."""
        size = self._pool.batch_cell(len(requests))
        cells = [list(range(i, min(i + size, len(requests))))
                 for i in range(0, len(requests), size)]
        done: list[Completion | None] = [None] * len(requests)

        async def one(rows: list[int]) -> None:
            outcomes = await self._batch_cell([requests[i] for i in rows])
            for i, outcome in zip(rows, outcomes, strict=True):
                if outcome[0] != "ok":
                    raise decode_error(outcome)
                done[i] = outcome[1]
                if on_done is not None:
                    on_done(i, outcome[1])

        await asyncio.gather(*(one(rows) for rows in cells))
        return [c for c in done if c is not None]

    async def _batch_cell(self, requests: list[Request]) -> list[Any]:
        for attempt in range(BATCH_ATTEMPTS):
            try:
                return await self._pool.call(requests, batch=True)
            except ActorLost:
                if attempt == BATCH_ATTEMPTS - 1:
                    raise
        return []  # not reached

    async def aclose(self) -> None:
        await self._pool.aclose()


class RayExecutor:
    """See the module docstring. One pool of actors per model, all released by ``aclose``."""

    kind = "ray"

    def __init__(self, spec: ExecutorSpec, *, field: str = "--executor") -> None:
        self.spec = spec
        self._ray = connect(spec.address, field)
        self._pools: list[CellPool] = []
        self._id = uuid.uuid4().hex[:8]

    def model(self, cfg: ModelConfig, task: Task) -> Model:
        actors = self.spec.actors or cluster_cpus(self._ray)
        options: dict[str, Any] = {"max_restarts": 0}
        if self.spec.cpus is not None:
            options["num_cpus"] = self.spec.cpus
        remote = self._ray.remote(CellWorker)
        pricing = {k: v.model_dump(mode="json") for k, v in task.pricing.items()}
        args = (cfg.model_dump(mode="json"), pricing, str(task.base_dir), cfg.concurrency)

        def make(name: str) -> Any:
            return remote.options(name=name, **options).remote(*args)

        pool = CellPool(self._ray, make, actors=actors, cell=self.spec.cell,
                        prefix=f"honed-{self._id}-{len(self._pools)}")
        self._pools.append(pool)
        try:
            info = pool.start()
        except BaseException:
            pool.kill()
            self._pools.remove(pool)
            raise
        return RayModel(pool, info, actors)

    def concurrency(self, model: Model, requested: int | None) -> int | None:
        if isinstance(model, RayModel):
            return model.default_concurrency
        return requested

    def stats(self) -> dict[str, Any] | None:
        totals: dict[str, Any] = {"kind": "ray", "address": self.spec.address or "local"}
        for pool in self._pools:
            for key, value in pool.stats.to_dict().items():
                totals[key] = totals.get(key, 0) + value
        return totals

    async def aclose(self) -> None:
        for pool in self._pools:
            await pool.aclose()

