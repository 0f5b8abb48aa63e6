"""Anthropic Messages API through the official SDK (``pip install 'honed[anthropic]'``).

The SDK is imported lazily, its own retries are off (the engine retries and counts them), system
messages go to ``system=``, and the SDK's exceptions become honed's typed errors with
``retry_after`` read from the response headers. The API key lives only inside the SDK client.
"""

from __future__ import annotations

import asyncio
import inspect
import os
import time
from collections.abc import Mapping
from typing import Any

from honed.errors import (
    BadResponseError,
    ConfigError,
    ProviderError,
    TransportError,
)
from honed.providers.base import Completion, Request
from honed.providers.openai_compat import (
    auth_required,
    error_message,
    retry_after,
    scrub,
    status_error,
)
from honed.providers.pricing import cost_usd
from honed.task.task import ModelConfig, Pricing
from honed.types import Usage

DEFAULT_KEY_ENV = "ANTHROPIC_API_KEY"
BASE_URL_ENV = "ANTHROPIC_BASE_URL"
_FINISH = {"end_turn": "stop", "stop_sequence": "stop", "max_tokens": "length"}


def import_sdk() -> Any:
    try:
        import anthropic
    except ImportError:
        raise ConfigError("the anthropic provider needs the anthropic package", field="model",
                          fix="pip install 'honed[anthropic]'") from None
    return anthropic


def split_system(request: Request) -> tuple[str, list[dict[str, str]]]:
    """System messages joined for ``system=``; the rest as Anthropic chat turns."""
    system = "\n\n".join(m.content for m in request.messages if m.role == "system")
    turns = [m.to_dict() for m in request.messages if m.role != "system"]
    return system, turns


def takes_temperature(client: Any) -> bool:
    """Whether this SDK version still accepts ``temperature`` (SDK 2.x dropped sampling knobs)."""
    try:
        return "temperature" in inspect.signature(client.messages.create).parameters
    except (TypeError, ValueError):
        return True


class AnthropicModel:
    """A Claude model behind the Anthropic Messages API."""

    constrains_output = False

    def __init__(self, cfg: ModelConfig, *, pricing: Mapping[str, Pricing] | None = None,
                 env: Mapping[str, str] | None = None) -> None:
        env = os.environ if env is None else env
        self._sdk = import_sdk()
        self.spec = cfg.spec.strip()
        self.name = self.spec.partition(":")[2] or self.spec
        self.base_url = self._base_url(cfg, env)
        self.default_concurrency = cfg.concurrency or 4
        self.timeout_s = cfg.timeout_s
        self._key_env = cfg.api_key_env or DEFAULT_KEY_ENV
        self._key = env.get(self._key_env) or None
        if self._key is None:
            raise auth_required(f"{self.spec}: no Anthropic API key", self._key_env)
        self._pricing = dict(pricing or {})
        self._client = self._sdk.AsyncAnthropic(api_key=self._key, base_url=self.base_url,
                                                max_retries=0, timeout=self.timeout_s)
        self._takes_temperature = takes_temperature(self._client)

    def __repr__(self) -> str:
        return f"AnthropicModel(spec={self.spec!r}, base_url={self.base_url!r})"

    @property
    def cache_namespace(self) -> str:
        return f"{self.spec}@{self.base_url or 'api.anthropic.com'}"

    @staticmethod
    def _base_url(cfg: ModelConfig, env: Mapping[str, str]) -> str | None:
        """The SDK appends ``/v1/messages``, so a copied ``.../v1`` base URL is trimmed."""
        url = cfg.base_url or env.get(BASE_URL_ENV) or None
        if url is None:
            return None
        url = url.rstrip("/")
        return url.removesuffix("/v1")

    def params(self, request: Request) -> dict[str, Any]:
        """Keyword arguments of ``messages.create`` for this request."""
        system, turns = split_system(request)
        params: dict[str, Any] = {"model": self.name, "messages": turns,
                                  "max_tokens": request.max_tokens}
        if self._takes_temperature:
            params["temperature"] = min(max(request.temperature, 0.0), 1.0)
        if system:
            params["system"] = system
        if request.stop:
            params["stop_sequences"] = list(request.stop)
        return params

    async def complete(self, request: Request) -> Completion:
        params = self.params(request)
        start = time.perf_counter()
        try:
            async with asyncio.timeout(self.timeout_s):
                message = await self._client.messages.create(**params)
        except TimeoutError:
            raise self._timeout() from None
        except self._sdk.AnthropicError as exc:
            raise self._translate(exc) from None
        latency = time.perf_counter() - start
        return self._completion(message, latency)

    def _timeout(self) -> TransportError:
        where = self.base_url or "api.anthropic.com"
        return TransportError(f"{self.spec}: no response within {self.timeout_s:g}s from {where}")

    def _translate(self, exc: Exception) -> ProviderError:
        sdk = self._sdk
        if isinstance(exc, sdk.APIStatusError):
            response = exc.response
            message = scrub(error_message(exc.body, getattr(exc, "message", str(exc))),
                            self._key)
            return status_error(self.spec, exc.status_code, message,
                                retry_after(response.headers), key_env=self._key_env)
        if isinstance(exc, sdk.APITimeoutError):
            return self._timeout()
        if isinstance(exc, sdk.APIConnectionError):
            detail = scrub(str(exc.__cause__ or exc), self._key)
            return TransportError(f"{self.spec}: cannot reach the Anthropic API ({detail})")
        return BadResponseError(f"{self.spec}: {scrub(str(exc), self._key)}")

    def _completion(self, message: Any, latency: float) -> Completion:
        try:
            text = "".join(block.text for block in message.content
                           if getattr(block, "type", None) == "text")
            usage = Usage(int(message.usage.input_tokens or 0),
                          int(message.usage.output_tokens or 0))
        except (AttributeError, TypeError, ValueError):
            raise BadResponseError(f"{self.spec}: unexpected response {message!r:.200}") from None
        stop = str(getattr(message, "stop_reason", None) or "end_turn")
        return Completion(text, usage, latency, cost_usd(self.spec, usage, self._pricing),
                          _FINISH.get(stop, stop))

    async def aclose(self) -> None:
        await self._client.close()
