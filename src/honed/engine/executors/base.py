"""The Executor protocol: where an evaluation's model calls run, and its spec grammar.

The process that runs a search or an evaluation (the driver) always keeps the optimizer loop,
the budget, the response cache, retries, scoring and the run store. An executor only decides
where the model answers: in this process (``local``, today's behaviour), or in Ray actors on a
cluster (``ray``), each actor with its own connection pool or its own embedded model. Because the
engine's client wraps whatever model the executor gives it, every attempt is admitted by the
driver's budget before it is dispatched, and a cached answer is never sent anywhere.

Spec grammar (``--executor``, ``executor:`` in a task file, ``executor=`` in the Python API)::

    local                         this process (the default)
    ray                           Ray: $RAY_ADDRESS if set, else a new local cluster
    ray:ADDRESS                   an existing cluster: auto, HOST:PORT or ray://HOST:10001
    ray[:ADDRESS]?actors=N&cell=M&cpus=C
                                  N actors per model (default: the cluster's CPUs), cells of M
                                  requests (default: an actor's concurrency, or for a model
                                  that batches an even share per actor), C CPUs reserved per
                                  actor (default: Ray's, none held while running)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, Protocol, runtime_checkable
from urllib.parse import parse_qsl

from honed.errors import ConfigError

if TYPE_CHECKING:
    from honed.providers.base import Model
    from honed.task.task import ModelConfig, Task

KINDS = ("local", "ray")
FIX = "use local, ray, ray:ADDRESS (auto, HOST:PORT, ray://HOST:10001), optionally ?actors=N"
_OPTIONS = {"actors": int, "cell": int, "cpus": float}


@runtime_checkable
class Executor(Protocol):
    """Builds the models an engine's clients call, and releases them at the end."""

    kind: str

    def model(self, cfg: ModelConfig, task: Task) -> Model:
        """The model for ``cfg`` that the engine's client (cache, budget, retries) calls."""
        ...

    def concurrency(self, model: Model, requested: int | None) -> int | None:
        """How many calls the driver keeps in flight to ``model`` (``requested`` is the flag's
        or the model config's value, per actor for a remote executor)."""
        ...

    def stats(self) -> dict[str, Any] | None:
        """What the executor did (actors, cells, actors lost), or None for the local one."""
        ...

    async def aclose(self) -> None: ...


@dataclass(frozen=True)
class ExecutorSpec:
    """A parsed executor spec (see the module docstring)."""

    kind: Literal["local", "ray"] = "local"
    address: str | None = None
    actors: int | None = None
    cell: int | None = None
    cpus: float | None = None

    @property
    def local(self) -> bool:
        return self.kind == "local"

    def __str__(self) -> str:
        text = self.kind + (f":{self.address}" if self.address else "")
        query = "&".join(f"{k}={v}" for k in _OPTIONS if (v := getattr(self, k)) is not None)
        return f"{text}?{query}" if query else text


def parse_executor(text: str | None, *, field: str = "--executor",
                   file: str | None = None) -> ExecutorSpec:
    """``ray:auto?actors=4`` -> ``ExecutorSpec("ray", "auto", 4)``; None or "" is local."""
    if text is None or not text.strip():
        return ExecutorSpec()
    head, _, query = text.strip().partition("?")
    kind, _, address = head.partition(":")
    kind = kind.strip().lower()
    if kind not in KINDS:
        raise ConfigError(f"unknown executor {kind!r} in {text!r}", field=field, file=file,
                          fix=FIX)
    if kind == "local" and (address or query):
        raise ConfigError(f"the local executor takes no address or options: {text!r}",
                          field=field, file=file, fix="write local")
    options = _options(query, text, field, file)
    return ExecutorSpec("ray" if kind == "ray" else "local", address.strip() or None, **options)


def _options(query: str, text: str, field: str, file: str | None) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for key, raw in parse_qsl(query, keep_blank_values=True):
        kind = _OPTIONS.get(key)
        if kind is None:
            raise ConfigError(f"unknown executor option {key!r} in {text!r}", field=field,
                              file=file, fix="use actors=N, cell=N or cpus=N")
        try:
            value = kind(raw)
        except ValueError:
            value = None
        if value is None or value <= 0:
            raise ConfigError(f"executor option {key}={raw!r} in {text!r} must be a positive "
                              "number", field=field, file=file, fix=f"e.g. ray?{key}=2")
        values[key] = value
    return values
