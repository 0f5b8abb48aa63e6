"""Open a SearchContext for a task: the evaluation service and the search's own settings."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager

from pydantic import Field

from honed.engine.service import Checkpoints
from honed.engine.session import EngineOptions, open_service
from honed.optimizers.base import Objective, SearchContext
from honed.providers.base import Model
from honed.task.dataset import Splits
from honed.task.task import ModelConfig, Task
from honed.tracking.events import Callback, Emitter


class SearchOptions(EngineOptions):
    """How a search runs: the engine's options, the proposer and the objective."""

    reflection_model: str | None = Field(None, description="a capable model that rewrites "
                                         "prompts (overrides the task's reflection_model)")
    objective: Objective = Field(default_factory=Objective)
    minibatch_size: int = Field(16, gt=0)


def proposer_config(task: Task, options: SearchOptions) -> ModelConfig | None:
    """The reflection model: the option's spec, else the task's ``reflection_model``."""
    if options.reflection_model is not None:
        return ModelConfig(spec=options.reflection_model)
    return task.reflection_model


@asynccontextmanager
async def open_search(task: Task, splits: Splits, options: SearchOptions, *,
                      callbacks: Iterable[Callback] = (), model: Model | None = None,
                      reflection: Model | None = None,
                      checkpoints: Checkpoints | None = None) -> AsyncIterator[SearchContext]:
    """A SearchContext over an evaluation service (see ``engine.service``)."""
    emitter = Emitter(callbacks)
    async with open_service(task, splits, options, [emitter.emit], model=model,
                            proposer=proposer_config(task, options), proposer_model=reflection,
                            checkpoints=checkpoints) as service:
        yield SearchContext(task, splits, service, options.seed, options.objective, emitter,
                            options.minibatch_size)
