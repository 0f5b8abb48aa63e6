"""Assemble an Engine for a task: model, judge models, cache, budget, scorers."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

from honed.engine.budget import Budget, Limits
from honed.engine.cache import ResponseCache
from honed.engine.client import CallStats, ModelClient, Pricer
from honed.engine.retry import RetryPolicy
from honed.engine.runner import Engine
from honed.providers.base import Model
from honed.task.dataset import Splits
from honed.task.task import ModelConfig, Task
from honed.tracking.events import Callback, Emitter
from honed.types import Example


def honed_home() -> Path:
    """Where honed keeps its state: ``$HONED_HOME``, default ``./.honed``."""
    return Path(os.environ.get("HONED_HOME") or ".honed")


@dataclass(frozen=True)
class EngineOptions:
    model: str | None = None  # overrides the task's model spec
    concurrency: int | None = None
    cache: bool = True
    limits: Limits = field(default_factory=Limits)
    seed: int = 0
    home: Path | None = None


def model_config(task: Task, override: str | None, concurrency: int | None = None,
                 ) -> ModelConfig:
    """The task's model settings with the command line's model and concurrency applied (the
    flag wins over the YAML, and the provider's connection pool follows it)."""
    update: dict[str, object] = {}
    if override is not None:
        update["spec"] = override
    if concurrency is not None:
        update["concurrency"] = concurrency
    return task.model.model_copy(update=update) if update else task.model


def pricer(spec: str, task: Task) -> Pricer:
    from honed.providers.pricing import cost_usd

    return lambda usage: cost_usd(spec, usage, task.pricing)


def build(cfg: ModelConfig, task: Task) -> Model:
    from honed.providers.registry import build_model

    return build_model(cfg, pricing=task.pricing, base_dir=task.base_dir)


@asynccontextmanager
async def open_engine(task: Task, splits: Splits, options: EngineOptions | None = None,
                      callbacks: Iterable[Callback] = (), *,
                      model: Model | None = None,
                      demos: Mapping[str, Example] | None = None) -> AsyncIterator[Engine]:
    """An Engine bound to the task; closes models and flushes the cache on exit. Demo ids
    resolve against train, the task's inline demo rows and ``demos`` (e.g. a registry
    version's own rows)."""
    from honed.evals.registry import build_scorers

    options = options or EngineOptions()
    home = options.home or honed_home()
    emitter = Emitter(callbacks)
    cache = (ResponseCache(home / "cache.sqlite", on_event=emitter.emit) if options.cache
             else None)
    budget, stats = Budget(options.limits), CallStats()
    cfg = model_config(task, options.model, options.concurrency)
    clients: list[ModelClient] = []

    def client_for(m: Model, c: ModelConfig, concurrency: int | None) -> ModelClient:
        client = ModelClient(m, budget, cache=cache, retry=RetryPolicy(c.max_retries),
                             concurrency=concurrency or c.concurrency, stats=stats,
                             price=pricer(m.spec, task))
        clients.append(client)
        return client

    def judge_model(spec: str | None) -> Model:
        judge_cfg = task.judge_model or cfg
        if spec is not None:
            judge_cfg = judge_cfg.model_copy(update={"spec": spec})
        if judge_cfg == cfg and clients:
            return clients[0]
        return client_for(build(judge_cfg, task), judge_cfg, None)

    try:
        client_for(model or build(cfg, task), cfg, options.concurrency)
        scorers = build_scorers(task, judge_model)
        pool = {**{ex.id: ex for ex in splits.train}, **task.demo_rows(), **(demos or {})}
        yield Engine(task, clients[0], scorers, pool, emitter, options.seed)
    finally:
        for client in clients:
            await client.aclose()
        if cache is not None:
            cache.close()
