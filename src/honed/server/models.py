"""The models a server calls: one engine ``ModelClient`` per model spec for the app's lifetime,
with the response cache, retries and concurrency limits that ``honed eval`` uses."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from pathlib import Path

from honed.engine.budget import Budget, Limits
from honed.engine.cache import ResponseCache
from honed.engine.client import ModelClient
from honed.engine.retry import RetryPolicy
from honed.lifecycle.prompt import Prompt
from honed.lifecycle.registry import MODEL_TAG
from honed.providers.base import Request
from honed.task.task import ModelConfig
from honed.types import Message

log = logging.getLogger("honed.server")
MODEL_TAGS = (MODEL_TAG, "model")  # a version's tag naming the model it was optimized for
DEFAULT_SPEC = "local"
SERVE_CONCURRENCY = 64  # calls in flight per model: a server answers many callers at once


@dataclass(frozen=True)
class Answer:
    """One model answer for a rendered prompt."""

    output: str
    spec: str
    latency_s: float
    input_tokens: int
    output_tokens: int
    cost_usd: float
    cached: bool


class ModelPool:
    """Lazily built ``ModelClient`` objects, keyed by model spec, sharing one cache."""

    def __init__(self, home: Path, *, model_override: str | None = None, cache: bool = True,
                 limits: Limits | None = None) -> None:
        self.home, self.model_override = home, model_override
        self.budget = Budget(limits or Limits())
        self._cache_on = cache
        self._cache: ResponseCache | None = None
        self._clients: dict[str, tuple[ModelClient, ModelConfig]] = {}
        self._lock = asyncio.Lock()

    def spec_for(self, prompt: Prompt) -> str:
        """The version's recorded model, else the server's ``--model``, else ``local``."""
        for tag in MODEL_TAGS:
            if prompt.tags.get(tag):
                return str(prompt.tags[tag])
        return self.model_override or DEFAULT_SPEC

    async def _client(self, spec: str) -> tuple[ModelClient, ModelConfig]:
        async with self._lock:
            if spec not in self._clients:
                from honed.providers.registry import build_model

                if self._cache_on and self._cache is None:
                    self.home.mkdir(parents=True, exist_ok=True)
                    self._cache = ResponseCache(self.home / "cache.sqlite")
                cfg = ModelConfig(spec=spec)
                model = build_model(cfg, base_dir=self.home)
                client = ModelClient(model, self.budget, cache=self._cache,
                                     retry=RetryPolicy(cfg.max_retries),
                                     concurrency=cfg.concurrency or SERVE_CONCURRENCY)
                self._clients[spec] = (client, cfg)
                log.info("model %s ready", spec)
            return self._clients[spec]

    async def complete(self, prompt: Prompt, messages: list[dict[str, str]]) -> Answer:
        """Call the prompt's model on ``messages`` (rendered by ``prompt.render``)."""
        spec = self.spec_for(prompt)
        client, cfg = await self._client(spec)
        request = Request(tuple(Message(m["role"], m["content"]) for m in messages),  # type: ignore[arg-type]
                          temperature=cfg.temperature, max_tokens=cfg.max_tokens)
        done = await client.complete(request)
        return Answer(done.text, spec, done.latency_s, done.usage.input_tokens,
                      done.usage.output_tokens, 0.0 if done.cached else done.cost_usd,
                      done.cached)

    async def aclose(self) -> None:
        for client, _ in self._clients.values():
            try:
                await client.aclose()
            except Exception:  # closing must not hide the shutdown of the others
                log.exception("closing a model client failed")
        self._clients.clear()
        if self._cache is not None:
            self._cache.close()
            self._cache = None
