"""The actor side of the ray executor: one model per actor, answering cells of requests.

``CellWorker`` is a plain class (Ray wraps it with ``ray.remote`` on the driver, so importing
this module does not import Ray). The actor builds its model from the model config itself: its
own connection pool sized to its concurrency, or its own embedded model. API keys are read from
the actor's environment, never sent with the config.

A cell's answers come back as plain outcomes, not exceptions: ``("ok", Completion)`` or
``("error", ERROR_CLASS, message, status, retry_after)``, which the driver turns back into the
same ``ProviderError`` subclass, so retries and per-example errors behave as in this process.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from honed import errors
from honed.errors import HonedError, ProviderError
from honed.providers.base import Completion, Model, Request

Outcome = tuple[Any, ...]
ERRORS: dict[str, type[HonedError]] = {
    cls.__name__: cls for cls in (errors.ProviderError, errors.AuthError, errors.RateLimitError,
                                  errors.TransportError, errors.BadResponseError,
                                  errors.ConfigError, errors.DatasetError)}


def encode_error(exc: HonedError) -> Outcome:
    status = getattr(exc, "status", None)
    retry_after = getattr(exc, "retry_after", None)
    name = type(exc).__name__ if type(exc).__name__ in ERRORS else (
        "ProviderError" if isinstance(exc, ProviderError) else "ConfigError")
    return ("error", name, str(exc), status, retry_after)


def decode_error(outcome: Outcome) -> HonedError:
    """The driver-side error of an ``("error", ...)`` outcome."""
    _, name, message, status, retry_after = outcome
    cls = ERRORS.get(str(name), errors.ProviderError)
    if issubclass(cls, ProviderError):
        return cls(str(message), status=status, retry_after=retry_after)
    return cls(str(message))


class CellWorker:
    """A Ray actor's state: one model and a limit of ``concurrency`` calls in flight."""

    def __init__(self, cfg: Mapping[str, Any], pricing: Mapping[str, Any],
                 base_dir: str | None, concurrency: int | None) -> None:
        if os.environ.get("HONED_FORBID_NETWORK") == "1":  # a process entry point
            from honed.testing import block_network

            block_network()
        self._model: Model | None = None
        self._error: Outcome | None = None
        try:
            self._model = _build(cfg, pricing, base_dir)
        except HonedError as exc:
            self._error = encode_error(exc)
            return
        self._concurrency = concurrency or self._model.default_concurrency
        configure = getattr(self._model, "use_concurrency", None)
        if callable(configure):
            configure(self._concurrency)
        self._slots: asyncio.Semaphore | None = None
        self._batch_lock: asyncio.Lock | None = None

    async def describe(self) -> dict[str, Any]:
        """What the driver's stand-in must report for this model (the cache key uses
        ``cache_namespace``), or the error that kept the model from being built."""
        model = self._model
        if model is None:
            return {"error": self._error}
        return {"spec": model.spec, "cache_namespace": str(getattr(model, "cache_namespace",
                                                                   model.spec)),
                "concurrency": self._concurrency, "constrains_output": model.constrains_output,
                "supports_batch": bool(getattr(model, "supports_batch", False)),
                "pid": os.getpid(), "error": None}

    async def run(self, requests: Sequence[Request], batch: bool = False) -> list[Outcome]:
        """Answer one cell: each request with ``complete`` (at most ``concurrency`` at once),
        or, for ``batch``, the whole cell with the model's ``complete_batch``."""
        if self._model is None:
            return [self._error or ("error", "ProviderError", "no model", None, None)
                    for _ in requests]
        if batch:
            return await self._batch(self._model, requests)
        if self._slots is None:
            self._slots = asyncio.Semaphore(self._concurrency)
        model, slots = self._model, self._slots
        return list(await asyncio.gather(*(_one(model, slots, r) for r in requests)))

    async def _batch(self, model: Model, requests: Sequence[Request]) -> list[Outcome]:
        if self._batch_lock is None:
            self._batch_lock = asyncio.Lock()
        async with self._batch_lock:  # an embedded model decodes one batch at a time
            try:
                done = await model.complete_batch(list(requests))  # type: ignore[attr-defined]
            except HonedError as exc:
                return [encode_error(exc) for _ in requests]
        return [("ok", c) for c in done]

    async def close(self) -> None:
        if self._model is not None:
            await self._model.aclose()


async def _one(model: Model, slots: asyncio.Semaphore, request: Request) -> Outcome:
    async with slots:
        try:
            completion: Completion = await model.complete(request)
        except HonedError as exc:
            return encode_error(exc)
    return ("ok", completion)


def _build(cfg: Mapping[str, Any], pricing: Mapping[str, Any], base_dir: str | None) -> Model:
    from honed.providers.registry import build_model
    from honed.task.task import ModelConfig, Pricing

    return build_model(ModelConfig.model_validate(dict(cfg)),
                       pricing={k: Pricing.model_validate(v) for k, v in pricing.items()},
                       base_dir=Path(base_dir) if base_dir else None)
