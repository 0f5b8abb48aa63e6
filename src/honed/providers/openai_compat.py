"""OpenAI-compatible chat completions over aiohttp (OpenAI, vLLM, Ollama, llama.cpp, LM Studio).

One ``aiohttp.ClientSession`` per model, its connection pool sized to the model's concurrency,
with HTTP keep-alive. aiohttp rather than httpx: on a 2-core machine httpx spent ~1.4 ms of CPU
per request against aiohttp's ~0.35 ms, enough to keep a 100 ms endpoint only 86% busy at
concurrency 32 (see benchmarks/engine_throughput.py). Each ``complete`` makes exactly one attempt
and raises a typed error; the engine retries (it counts the retries). The API key lives only in
the client's headers: it never appears in ``repr``, in error messages (server messages are
scrubbed) or in logs.

The module also holds the HTTP status -> error mapping shared with the Anthropic provider.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlsplit

import aiohttp

from honed.errors import (
    AuthError,
    BadResponseError,
    ProviderError,
    RateLimitError,
    TransportError,
)
from honed.providers.base import Completion, Request
from honed.providers.pricing import cost_usd
from honed.task.task import ModelConfig, Pricing
from honed.types import Usage

OPENAI_URL = "https://api.openai.com/v1"
DEFAULT_KEY_ENV = "OPENAI_API_KEY"
BASE_URL_ENV = "OPENAI_BASE_URL"
_REASONING_PREFIXES = ("o1", "o3", "o4", "gpt-5")
_MAX_MESSAGE = 500


# --- shared HTTP error mapping ------------------------------------------------------------------

def retry_after(headers: Mapping[str, str]) -> float | None:
    """Seconds to wait from ``retry-after-ms``, else ``Retry-After`` (seconds or an HTTP date)."""
    lowered = {k.lower(): v for k, v in headers.items()}
    millis = lowered.get("retry-after-ms")
    if millis is not None:
        try:
            return max(float(millis) / 1000, 0.0)
        except ValueError:
            pass
    value = lowered.get("retry-after")
    if value is None:
        return None
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max((when - datetime.now(UTC)).total_seconds(), 0.0)


def error_message(body: Any, fallback: str = "") -> str:
    """The human message of an error body: ``{"error": {"message"}}``, ``{"error": str}``, ..."""
    if isinstance(body, dict):
        error = body.get("error")
        nested = error.get("message") if isinstance(error, dict) else None
        for value in (nested, error, body.get("message"), body.get("detail")):
            if isinstance(value, str) and value:
                return value[:_MAX_MESSAGE]
    return fallback[:_MAX_MESSAGE]


def status_error(prefix: str, status: int, message: str, wait: float | None, *,
                 key_env: str | None = None) -> ProviderError:
    """The typed error for an HTTP error status; ``key_env`` names the key's variable."""
    text = f"{prefix}: HTTP {status}" + (f": {message}" if message else "")
    if status in (401, 403):
        hint = f" (API key from {key_env})" if key_env else ""
        return AuthError(text + hint, status=status)
    if status in (429, 529) or (status >= 500 and "overloaded" in message.lower()):
        return RateLimitError(text, status=status, retry_after=wait)
    if status in (408, 409) or status >= 500:
        return TransportError(text, status=status, retry_after=wait)
    return ProviderError(text, status=status)


def scrub(text: str, secret: str | None) -> str:
    """``text`` with every occurrence of ``secret`` masked."""
    return text.replace(secret, "***") if secret else text


def auth_required(message: str, var: str) -> AuthError:
    return AuthError(f"{message}: set the environment variable {var} "
                     f"(or name another one with api_key_env)")


# --- the model ----------------------------------------------------------------------------------

def _strict_compatible(node: Any) -> bool:
    """Whether a JSON schema suits OpenAI's strict mode: closed objects, all properties required."""
    if isinstance(node, list):
        return all(_strict_compatible(item) for item in node)
    if not isinstance(node, dict):
        return True
    if "properties" in node or node.get("type") == "object":
        properties = node.get("properties") or {}
        if (node.get("additionalProperties") is not False
                or set(node.get("required") or ()) != set(properties)):
            return False
    skip = ("enum", "const", "default", "examples")
    return all(_strict_compatible(v) for k, v in node.items() if k not in skip)


def response_format(schema: Mapping[str, Any]) -> dict[str, Any]:
    return {"type": "json_schema", "json_schema": {
        "name": "output", "schema": dict(schema), "strict": _strict_compatible(dict(schema))}}


def _finish_reason(choice: Mapping[str, Any], message: Mapping[str, Any]) -> str:
    if message.get("refusal") and not message.get("content"):
        return "refusal"
    return str(choice.get("finish_reason") or "stop")


class OpenAICompatModel:
    """A chat model behind an OpenAI-compatible ``/chat/completions`` endpoint."""

    constrains_output = False  # json_schema is sent, but choices are only checked afterwards

    def __init__(self, cfg: ModelConfig, *, pricing: Mapping[str, Pricing] | None = None,
                 env: Mapping[str, str] | None = None) -> None:
        env = os.environ if env is None else env
        self.spec = cfg.spec.strip()
        self.name = self.spec.partition(":")[2] or self.spec
        self.base_url = (cfg.base_url or env.get(BASE_URL_ENV) or OPENAI_URL).rstrip("/")
        self.default_concurrency = cfg.concurrency or 8
        self.timeout_s = cfg.timeout_s
        self._key_env = cfg.api_key_env or DEFAULT_KEY_ENV
        self._key = self._resolve_key(cfg, env)
        self._pricing = dict(pricing or {})
        self._session: aiohttp.ClientSession | None = None

    @property
    def cache_namespace(self) -> str:
        """The same model name behind two endpoints must not share cache entries."""
        return f"{self.spec}@{self.base_url}"

    def __repr__(self) -> str:
        return f"OpenAICompatModel(spec={self.spec!r}, base_url={self.base_url!r})"

    def _resolve_key(self, cfg: ModelConfig, env: Mapping[str, str]) -> str | None:
        key = env.get(self._key_env) or None
        if key is None and cfg.api_key_env:
            raise auth_required(f"{self.spec}: api_key_env names {cfg.api_key_env}, "
                                "which is not set", cfg.api_key_env)
        if key is None and urlsplit(self.base_url).hostname == "api.openai.com":
            raise auth_required(f"{self.spec}: no API key for {self.base_url}", self._key_env)
        return key

    def use_concurrency(self, concurrency: int) -> None:
        """Size the connection pool to the calls the engine keeps in flight (``--concurrency``
        or ``model.concurrency``), so the pool never queues what the engine let through.
        Takes effect for the session opened at the next first call."""
        self.default_concurrency = concurrency

    def _client(self) -> aiohttp.ClientSession:
        """The session, created inside the running event loop on first use."""
        if self._session is None or self._session.closed:
            headers = {"User-Agent": "honed"}
            if self._key:
                headers["Authorization"] = f"Bearer {self._key}"
            connector = aiohttp.TCPConnector(limit=self.default_concurrency)
            self._session = aiohttp.ClientSession(headers=headers, connector=connector,
                                                  timeout=aiohttp.ClientTimeout(total=None))
        return self._session

    def body(self, request: Request) -> dict[str, Any]:
        """The JSON body of a chat completion request."""
        body: dict[str, Any] = {"model": self.name,
                                "messages": [m.to_dict() for m in request.messages]}
        if self.name.lower().startswith(_REASONING_PREFIXES):
            body["max_completion_tokens"] = request.max_tokens  # no temperature on these
        else:
            body["temperature"] = request.temperature
            body["max_tokens"] = request.max_tokens
        if request.stop:
            body["stop"] = list(request.stop)
        if request.seed is not None:
            body["seed"] = request.seed
        if request.output.json_schema is not None:
            body["response_format"] = response_format(request.output.json_schema)
        return body

    async def complete(self, request: Request) -> Completion:
        start = time.perf_counter()
        status, headers, text = await self._post(self.body(request))
        latency = time.perf_counter() - start
        if status >= 400:
            raise self._status_error(status, headers, text)
        return self._completion(self._decode(status, text), latency)

    async def _post(self, body: dict[str, Any]) -> tuple[int, Mapping[str, str], str]:
        url = f"{self.base_url}/chat/completions"
        try:
            async with asyncio.timeout(self.timeout_s):
                async with self._client().post(url, json=body) as response:
                    return response.status, dict(response.headers), await response.text()
        except TimeoutError:
            raise TransportError(f"{self.spec}: no response within {self.timeout_s:g}s "
                                 f"from {self.base_url}") from None
        except aiohttp.ClientError as exc:
            detail = scrub(f"{type(exc).__name__}: {exc}", self._key)
            raise TransportError(f"{self.spec}: cannot reach {self.base_url} ({detail})") from None

    def _status_error(self, status: int, headers: Mapping[str, str], text: str) -> ProviderError:
        try:
            parsed: Any = json.loads(text)
        except ValueError:
            parsed = None
        message = scrub(error_message(parsed, text), self._key)
        return status_error(self.spec, status, message, retry_after(headers),
                            key_env=self._key_env)

    def _decode(self, status: int, text: str) -> Mapping[str, Any]:
        try:
            data = json.loads(text)
        except ValueError:
            raise BadResponseError(f"{self.spec}: response is not JSON: "
                                   f"{scrub(text[:200], self._key)!r}", status=status) from None
        if not isinstance(data, dict):
            raise BadResponseError(f"{self.spec}: response is not a JSON object", status=status)
        return data

    def _completion(self, data: Mapping[str, Any], latency: float) -> Completion:
        text, finish = self._message(data)
        usage = self._usage(data.get("usage"))
        return Completion(text, usage, latency, cost_usd(self.spec, usage, self._pricing),
                          finish)

    def _message(self, data: Mapping[str, Any]) -> tuple[str, str]:
        """The answer text and finish reason; a body without them is a BadResponseError."""
        try:
            choice = data["choices"][0]
            message = choice["message"]
            content = message.get("content")
            finish = _finish_reason(choice, message)
        except (KeyError, IndexError, TypeError, AttributeError):
            raise self._bad(data, "has no choices[0].message") from None
        if content is None and finish not in ("refusal", "length", "content_filter",
                                              "tool_calls"):
            raise self._bad(data, "has no content")
        if content is not None and not isinstance(content, str):
            raise self._bad(data, f"has content of type {type(content).__name__}")
        return content or "", finish

    def _bad(self, data: Mapping[str, Any], what: str) -> BadResponseError:
        return BadResponseError(f"{self.spec}: response {what}: "
                                f"{scrub(json.dumps(data, default=str)[:200], self._key)}")

    def _usage(self, raw: Any) -> Usage:
        if not isinstance(raw, dict):
            return Usage()
        try:
            return Usage(int(raw.get("prompt_tokens") or 0),
                         int(raw.get("completion_tokens") or 0))
        except (TypeError, ValueError):
            raise BadResponseError(f"{self.spec}: malformed usage {raw!r}") from None

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
