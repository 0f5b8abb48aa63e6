"""Open a SearchContext for a task: engine, run store, reflection model, budget."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

from honed.engine.budget import Limits
from honed.engine.client import ModelClient
from honed.engine.retry import RetryPolicy
from honed.engine.session import EngineOptions, build, honed_home, open_engine
from honed.optimizers.base import Objective, SearchContext
from honed.providers.base import Model
from honed.task.dataset import Splits
from honed.task.task import ModelConfig, Task
from honed.tracking.events import Callback
from honed.tracking.store import RunStore, new_run_id


@dataclass(frozen=True)
class SearchOptions:
    seed: int = 0
    limits: Limits = field(default_factory=Limits)
    model: str | None = None
    reflection_model: str | None = None
    objective: Objective = field(default_factory=Objective)
    minibatch_size: int = 16
    concurrency: int | None = None
    cache: bool = True
    home: Path | None = None  # state folder; default $HONED_HOME


def open_store(home: Path | None = None) -> RunStore:
    return RunStore((home or honed_home()) / "runs.sqlite")


@asynccontextmanager
async def open_search(task: Task, splits: Splits, options: SearchOptions, *,
                      run_id: str | None = None, store: RunStore | None = None,
                      callbacks: Iterable[Callback] = (), model: Model | None = None,
                      reflection: Model | None = None) -> AsyncIterator[SearchContext]:
    """A SearchContext whose budget counts rollouts (see ``engine.budget``)."""
    own_store = store is None
    store = store or open_store(options.home)
    run_id = run_id or new_run_id()
    if store.run(run_id) is None:
        store.create_run(run_id, kind="optimize", task=task.name, task_path=None,
                         optimizer=None, config={})
    engine_options = EngineOptions(model=options.model, concurrency=options.concurrency,
                                   cache=options.cache, limits=options.limits,
                                   seed=options.seed, home=options.home)
    try:
        async with open_engine(task, splits, engine_options, callbacks, model=model) as engine:
            engine.budget.count_cached = True
            client = _reflection_client(task, options, engine.client, reflection)
            try:
                yield SearchContext(task, splits, engine, store, run_id, options.seed,
                                    options.objective, client, engine.emitter,
                                    options.minibatch_size)
            finally:
                if client is not None and client is not engine.client:
                    await client.aclose()
    finally:
        if own_store:
            store.close()


def _reflection_client(task: Task, options: SearchOptions, task_client: ModelClient,
                       model: Model | None) -> ModelClient | None:
    cfg = task.reflection_model
    if options.reflection_model is not None:
        cfg = ModelConfig(spec=options.reflection_model)
    if model is None and cfg is None:
        return None
    cfg = cfg or ModelConfig(spec="fake")
    model = model or build(cfg, task)
    return ModelClient(model, task_client.budget, cache=task_client.cache,
                       retry=RetryPolicy(cfg.max_retries), stats=task_client.stats)
