"""An OpenAI-compatible ``/v1/chat/completions`` server in front of any honed ``Model``.

Tools that only speak the OpenAI API (DSPy, through lm15 or litellm) can then run on a honed
model. Serve the engine's ``ModelClient`` and every call such a tool makes goes through honed's
cache, retries and ``Budget`` and is counted like any other rollout::

    async with ModelServer(ctx.engine.client) as server:
        lm = dspy.LM("openai/task", api_base=server.url, api_key=server.token)
        await asyncio.to_thread(run_dspy, lm)

Where it runs: on the caller's event loop, on 127.0.0.1 (port 0 picks a free one). The client it
serves (its semaphore, the response cache, the Budget) belongs to that loop and is not
thread-safe, so the server stays on it; synchronous callers must run in worker threads
(``asyncio.to_thread``) so the loop is free to answer them.

Request mapping: ``messages`` (``developer`` is folded into ``system``; content as a string or text
parts), ``temperature``, ``max_tokens`` / ``max_completion_tokens``, ``stop``, ``seed``,
``response_format`` (a JSON schema becomes an ``OutputSpec``) and ``n`` (1 only). Unknown fields
are ignored. Every route needs ``Authorization: Bearer <token>`` (a fresh token per server) and
answers 401 without it.

Errors use OpenAI's shape ``{"error": {"message", "type", "code"}}``. A ``BudgetExhausted`` from
the model, or a refusal because the ``quota`` is spent, answers **429** with type and code
``budget_exhausted`` (no ``Retry-After``: waiting will not help) and sets ``exhausted`` (from then
on every call is refused), so the caller can stop its tool cleanly. A ``CallQuota`` caps the calls
forwarded, e.g. to keep some of the run's budget back. Upstream provider errors map to 429 (rate
limit, with ``Retry-After``), 503 (transport) or 502 (anything else).
"""

from __future__ import annotations

import hmac
import itertools
import secrets
import time
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import Any

from aiohttp import web

from honed.errors import (
    AuthError,
    BudgetExhausted,
    ProviderError,
    RateLimitError,
    TransportError,
)
from honed.providers.base import Completion, Model, OutputSpec, Request
from honed.providers.batcher import MicroBatcher
from honed.types import Message, content_hash

_ROLES = {"system": "system", "developer": "system", "user": "user", "assistant": "assistant"}
_FINISH = {"stop": "stop", "length": "length", "max_tokens": "length", "end_turn": "stop",
           "stop_sequence": "stop", "content_filter": "content_filter"}
_MAX_BODY = 32 * 1024 * 1024


class BadRequest(ValueError):
    """A request body the server cannot map to a honed ``Request`` (answered 400)."""


class CallQuota:
    """A number of calls one or more servers may forward between them (shared, never overshot:
    a call takes its unit before it starts)."""

    def __init__(self, limit: int) -> None:
        self.limit, self.used = max(0, limit), 0

    @property
    def left(self) -> int:
        return self.limit - self.used

    def take(self) -> bool:
        if self.used >= self.limit:
            return False
        self.used += 1
        return True


@dataclass
class ServerStats:
    requests: int = 0       # authorized chat requests received
    completed: int = 0      # answered 200
    refused: int = 0        # answered 429 budget_exhausted
    unauthorized: int = 0   # answered 401
    failed: int = 0         # answered 400 / 5xx / upstream errors


def text_of(content: Any) -> str:
    """A message's content: a string, or a list of ``{"type": "text", "text": ...}`` parts."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts: list[str] = []
        for part in content:
            if isinstance(part, str):
                parts.append(part)
            elif isinstance(part, dict) and part.get("type", "text") == "text":
                parts.append(str(part.get("text", "")))
            else:
                kind = part.get("type") if isinstance(part, dict) else type(part).__name__
                raise BadRequest(f"content part of type {kind!r} is not supported (text only)")
        return "".join(parts)
    raise BadRequest("message content must be a string or a list of text parts")


def _messages(raw: Any) -> tuple[Message, ...]:
    if not isinstance(raw, list) or not raw:
        raise BadRequest("'messages' must be a non-empty list")
    out: list[Message] = []
    for i, m in enumerate(raw):
        if not isinstance(m, dict):
            raise BadRequest(f"messages[{i}] must be an object")
        role = _ROLES.get(str(m.get("role")))
        if role is None:
            raise BadRequest(f"messages[{i}]: role {m.get('role')!r} is not supported "
                             "(system, developer, user, assistant)")
        out.append(Message(role, text_of(m.get("content"))))  # type: ignore[arg-type]
    return tuple(out)


def _number(body: Mapping[str, Any], name: str, kind: type, default: Any) -> Any:
    value = body.get(name)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int | float) or (
            kind is int and not float(value).is_integer()):
        raise BadRequest(f"'{name}' must be {'an integer' if kind is int else 'a number'}")
    return kind(value)


def _stop(raw: Any) -> tuple[str, ...]:
    if raw is None:
        return ()
    if isinstance(raw, str):
        return (raw,)
    if isinstance(raw, list) and all(isinstance(s, str) for s in raw):
        return tuple(raw)
    raise BadRequest("'stop' must be a string or a list of strings")


def _output(raw: Any, default: OutputSpec) -> OutputSpec:
    if not isinstance(raw, dict) or raw.get("type") != "json_schema":
        return default
    spec = raw.get("json_schema")
    schema = spec.get("schema") if isinstance(spec, dict) else None
    if not isinstance(schema, dict):
        raise BadRequest("response_format.json_schema.schema must be an object")
    return OutputSpec(json_schema=schema)


def to_request(body: Any, default_output: OutputSpec | None = None) -> Request:
    """Map an OpenAI chat-completions body to a honed ``Request`` (raises ``BadRequest``)."""
    if not isinstance(body, dict):
        raise BadRequest("the body must be a JSON object")
    if body.get("stream"):
        raise BadRequest("streaming is not supported")
    if _number(body, "n", int, 1) != 1:
        raise BadRequest("only n=1 is supported")
    temperature = _number(body, "temperature", float, 0.0)
    if not 0.0 <= temperature <= 2.0:
        raise BadRequest("'temperature' must be between 0 and 2")
    max_tokens = _number(body, "max_completion_tokens", int, None)
    if max_tokens is None:
        max_tokens = _number(body, "max_tokens", int, 256)
    if max_tokens < 1:
        raise BadRequest("'max_tokens' must be at least 1")
    return Request(_messages(body.get("messages")), temperature, max_tokens,
                   _output(body.get("response_format"), default_output or OutputSpec()),
                   _stop(body.get("stop")), _number(body, "seed", int, None))


def chat_completion(model: str, completion: Completion, number: int) -> dict[str, Any]:
    """A honed ``Completion`` in the OpenAI ``chat.completion`` shape."""
    usage = completion.usage
    return {
        "id": f"chatcmpl-honed-{number}", "object": "chat.completion",
        "created": int(time.time()), "model": model,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": completion.text},
                     "finish_reason": _FINISH.get(completion.finish_reason, "stop")}],
        "usage": {"prompt_tokens": usage.input_tokens, "completion_tokens": usage.output_tokens,
                  "total_tokens": usage.input_tokens + usage.output_tokens},
    }


def _error(status: int, message: str, kind: str, code: str | None = None,
           headers: Mapping[str, str] | None = None) -> web.Response:
    payload = {"error": {"message": message, "type": kind, "code": code or kind}}
    return web.json_response(payload, status=status, headers=headers)


class ModelServer:
    """Serve ``model`` as an OpenAI-compatible endpoint; use it as an async context manager.

    ``output`` is the ``OutputSpec`` given to requests that carry no ``response_format`` schema
    (e.g. a task's ``choices``). ``quota`` caps the calls forwarded (it may be shared with other
    servers); once it is spent, requests are refused as budget exhausted.
    ``sample_seed``: sampled requests (temperature > 0) without a seed get one derived from it,
    the request's content and its repetition count, so a re-run draws the same samples and
    honed's cache can keep them.
    A model that batches (``supports_batch`` and ``complete_many``, e.g. the engine's client over
    the embedded model) gets concurrent greedy requests together through a ``MicroBatcher``.
    """

    def __init__(self, model: Model, *, host: str = "127.0.0.1", port: int = 0,
                 token: str | None = None, output: OutputSpec | None = None,
                 quota: CallQuota | None = None, sample_seed: int | None = None) -> None:
        self.model, self.host, self._port = model, host, port
        self.token = token or secrets.token_urlsafe(24)
        self.output, self.quota, self.sample_seed = output, quota, sample_seed
        self.stats = ServerStats()
        self.exhausted: str | None = None  # the first budget limit that refused a call
        self._inflight = 0
        self._numbers = itertools.count(1)
        self._samples: Counter[str] = Counter()
        self._runner: web.AppRunner | None = None
        batches = getattr(model, "supports_batch", False) and hasattr(model, "complete_many")
        self.batcher = MicroBatcher(model) if batches else None  # type: ignore[arg-type]

    # lifecycle ----------------------------------------------------------------------------
    @property
    def port(self) -> int:
        if self._runner is None or not self._runner.addresses:
            raise RuntimeError("the model server is not started")
        return int(self._runner.addresses[0][1])

    @property
    def inflight(self) -> int:
        """Calls forwarded to the model and not answered yet."""
        return self._inflight

    @property
    def root(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def url(self) -> str:
        """The OpenAI-compatible base URL, ``http://127.0.0.1:PORT/v1``."""
        return f"{self.root}/v1"

    async def start(self) -> ModelServer:
        if self._runner is not None:
            return self
        app = web.Application(client_max_size=_MAX_BODY)
        for prefix in ("/v1", ""):
            app.router.add_post(f"{prefix}/chat/completions", self._chat)
            app.router.add_get(f"{prefix}/models", self._models)
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await runner.setup()
        site = web.TCPSite(runner, self.host, self._port)
        try:
            await site.start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        return self

    async def stop(self) -> None:
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()

    async def __aenter__(self) -> ModelServer:
        return await self.start()

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.stop()

    # handlers -----------------------------------------------------------------------------
    def _authorized(self, request: web.Request) -> bool:
        scheme, _, given = request.headers.get("Authorization", "").partition(" ")
        return scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(),
                                                                  self.token.encode())

    def _unauthorized(self) -> web.Response:
        self.stats.unauthorized += 1
        return _error(401, "missing or invalid bearer token", "invalid_request_error",
                      "invalid_api_key", {"WWW-Authenticate": "Bearer"})

    async def _models(self, request: web.Request) -> web.Response:
        if not self._authorized(request):
            return self._unauthorized()
        return web.json_response({"object": "list", "data": [
            {"id": self.model.spec, "object": "model", "owned_by": "honed"}]})

    async def _chat(self, request: web.Request) -> web.Response:
        if not self._authorized(request):
            return self._unauthorized()
        self.stats.requests += 1
        try:
            body = await request.json()
            call = self._seeded(to_request(body, self.output))
        except (BadRequest, ValueError) as exc:
            self.stats.failed += 1
            return _error(400, f"invalid request: {exc}", "invalid_request_error")
        if self.exhausted is not None or (self.quota is not None and not self.quota.take()):
            limit = self.exhausted or "max_calls"
            return self._budget_refused(BudgetExhausted(limit, "the model server's quota"))
        self._inflight += 1
        try:
            completion = await (self.batcher or self.model).complete(call)
        except BudgetExhausted as exc:
            return self._budget_refused(exc)
        except ProviderError as exc:
            self.stats.failed += 1
            return _upstream_error(exc)
        except Exception as exc:
            self.stats.failed += 1
            return _error(500, f"internal error: {type(exc).__name__}: {exc}", "server_error")
        finally:
            self._inflight -= 1
        self.stats.completed += 1
        model = str(body.get("model") or self.model.spec)
        return web.json_response(chat_completion(model, completion, next(self._numbers)))

    def _budget_refused(self, exc: BudgetExhausted) -> web.Response:
        self.stats.refused += 1
        if self.exhausted is None:
            self.exhausted = exc.limit
        return _error(429, str(exc), "budget_exhausted")

    def _seeded(self, call: Request) -> Request:
        if self.sample_seed is None or call.seed is not None or call.temperature == 0:
            return call
        key = call.cache_key(self.model.spec)
        self._samples[key] += 1
        seed = int(content_hash([self.sample_seed, key, self._samples[key]], 8), 16) % 2**31
        return Request(call.messages, call.temperature, call.max_tokens, call.output, call.stop,
                       seed)


def _upstream_error(exc: ProviderError) -> web.Response:
    message = f"upstream {type(exc).__name__}: {exc}"
    if isinstance(exc, RateLimitError):
        wait = exc.retry_after
        headers = {"Retry-After": str(max(0, round(wait)))} if wait is not None else None
        return _error(429, message, "rate_limit_error", headers=headers)
    if isinstance(exc, TransportError):
        return _error(503, message, "upstream_unavailable")
    kind = "upstream_auth_error" if isinstance(exc, AuthError) else "upstream_error"
    return _error(502, message, kind)
