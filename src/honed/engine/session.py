"""Assemble an Engine for a task: model, judge models, cache, budget, scorers."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterable, Mapping
from contextlib import asynccontextmanager
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from honed.engine.budget import Budget, Limits
from honed.engine.cache import ResponseCache
from honed.engine.client import CallStats, ModelClient, Pricer
from honed.engine.executors.base import Executor
from honed.engine.retry import RetryPolicy
from honed.engine.runner import Engine
from honed.engine.service import Checkpoints, EvalService
from honed.providers.base import Model
from honed.task.dataset import Splits
from honed.task.task import ModelConfig, Task
from honed.tracking.events import Callback, Emitter
from honed.types import Example


def honed_home() -> Path:
    """Where honed keeps its state: ``$HONED_HOME``, default ``./.honed``."""
    return Path(os.environ.get("HONED_HOME") or ".honed")


class EngineOptions(BaseModel):
    """How an evaluation runs. Parsed once at the edge; stored with a run as JSON
    (``model_dump(mode="json")``; the state folder is not part of it)."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    model: str | None = Field(None, description="overrides the task's model spec")
    concurrency: int | None = Field(None, gt=0)
    cache: bool = True
    limits: Limits = Field(default_factory=Limits)
    seed: int = 0
    home: Path | None = Field(None, exclude=True, description="state folder; default "
                              "$HONED_HOME")
    executor: str | None = Field(None, exclude=True, description="where model calls run: "
                                 "local, ray or ray:ADDRESS; default: the task's executor:, "
                                 "else local (not part of a run's settings: the result is "
                                 "the same either way)")


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
    executor = _executor(task, options, given_model=model is not None)
    cache = (ResponseCache(home / "cache.sqlite", on_event=emitter.emit) if options.cache
             else None)
    budget, stats = Budget(options.limits), CallStats()
    cfg = model_config(task, options.model, options.concurrency)
    clients: list[ModelClient] = []

    def client_for(m: Model, c: ModelConfig, concurrency: int | None) -> ModelClient:
        client = ModelClient(m, budget, cache=cache, retry=RetryPolicy(c.max_retries),
                             concurrency=executor.concurrency(m, concurrency or c.concurrency),
                             stats=stats, price=pricer(m.spec, task))
        clients.append(client)
        return client

    def judge_model(spec: str | None) -> Model:
        judge_cfg = task.judge_model or cfg
        if spec is not None:
            judge_cfg = judge_cfg.model_copy(update={"spec": spec})
        if judge_cfg == cfg and clients:
            return clients[0]
        return client_for(executor.model(judge_cfg, task), judge_cfg, None)

    try:
        client_for(model or executor.model(cfg, task), cfg, options.concurrency)
        scorers = build_scorers(task, judge_model)
        pool = {**{ex.id: ex for ex in splits.train}, **task.demo_rows(), **(demos or {})}
        yield Engine(task, clients[0], scorers, pool, emitter, options.seed, executor)
    finally:
        for client in clients:
            await client.aclose()
        await executor.aclose()
        if cache is not None:
            cache.close()


def _executor(task: Task, options: EngineOptions, *, given_model: bool) -> Executor:
    """The executor of ``options.executor``, else of the task's ``executor:``, else local."""
    from honed.engine.executors import open_executor

    if options.executor is not None:
        text, field, file = options.executor, "--executor", None
    else:
        text, field, file = task.executor, "executor", task.source
    if given_model and text is not None and text.strip().lower() != "local":
        from honed.errors import ConfigError

        raise ConfigError("a model object passed in this process cannot run on a remote "
                          "executor", field=field, file=file,
                          fix="give the model as a spec (model: / --model) or use local")
    return open_executor(text, field=field, file=file)


@asynccontextmanager
async def open_service(task: Task, splits: Splits, options: EngineOptions | None = None,
                       callbacks: Iterable[Callback] = (), *, model: Model | None = None,
                       proposer: ModelConfig | None = None, proposer_model: Model | None = None,
                       checkpoints: Checkpoints | None = None) -> AsyncIterator[EvalService]:
    """The evaluation service of one run: an engine, and the proposer model (``proposer`` or
    ``proposer_model``; none if neither) on the same budget, cache and statistics."""
    options = options or EngineOptions()
    async with open_engine(task, splits, options, callbacks, model=model) as engine:
        client = _proposer_client(task, engine.client, proposer, proposer_model)
        try:
            yield EvalService(engine, proposer=client, checkpoints=checkpoints,
                              seed=options.seed)
        finally:
            if client is not None:
                await client.aclose()


def _proposer_client(task: Task, task_client: ModelClient, cfg: ModelConfig | None,
                     model: Model | None) -> ModelClient | None:
    if model is None and cfg is None:
        return None
    cfg = cfg or ModelConfig(spec="fake")
    model = model or build(cfg, task)
    return ModelClient(model, task_client.budget, cache=task_client.cache,
                       retry=RetryPolicy(cfg.max_retries),  # its own stats: proposer calls
                       price=pricer(model.spec, task))  # worst cases priced, as the task's
