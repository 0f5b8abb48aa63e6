"""A loopback fake of the OpenAI and Anthropic HTTP APIs, for tests and benchmarks. Stdlib only.

``FakeServer`` serves ``POST .../chat/completions`` (OpenAI shape) and ``POST .../messages``
(Anthropic shape) on 127.0.0.1 with HTTP/1.1 keep-alive, one daemon thread per connection. Each
handler sleeps ``latency_s`` in its own thread, so 32 concurrent connections at 100 ms take about
100 ms, not 3.2 s. ``fail_plan`` scripts failures: ``[429, 503]`` answers the first request 429
(with ``Retry-After: 0``), the second 503, and the rest normally. ``BAD_BODY`` in the plan answers
200 with a body that is not JSON. A 401 echoes the credentials it got, like real servers that
quote the key back, so tests can check that clients scrub it.

``faults`` injects faults at a rate: ``Faults(rate=0.2)`` answers about one request in five with
one of 429 (with ``Retry-After``), 500, a timeout (no answer before the client gives up), a slow
answer, or a malformed 200 (not JSON, truncated JSON, no ``choices``, null or mistyped content).
Which attempt faults is decided by a hash of the seed, the request body and how many times that
body was seen, so a run is reproducible whatever the arrival order. ``peak_in_flight`` is the
most requests the server was handling at once. ``max_in_flight`` rate-limits like a provider's
concurrency cap: a request that arrives while that many are being handled gets 429 at once
(``Retry-After: 0``), counted in ``rate_limited``.

Run one for benchmarks: ``python -m honed.providers.fake_server --port 8000 --latency 0.1``.
"""

from __future__ import annotations

import hashlib
import json
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

Reply = Callable[[list[dict[str, Any]]], str]

BAD_BODY = 0  # a fail_plan entry: 200 with a body that is not JSON
_RETRY_AFTER_ZERO = (429, 529)
_ERROR_TYPES = {400: "invalid_request_error", 401: "authentication_error",
                403: "permission_error", 404: "not_found_error", 429: "rate_limit_error",
                529: "overloaded_error"}


def tokens(text: str) -> int:
    """The same cheap estimate as FakeModel: about 4 characters a token."""
    return max(1, (len(text) + 3) // 4) if text else 0


def text_of(content: Any) -> str:
    """A message's content as text: a string, or a list of Anthropic/OpenAI content blocks."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(str(b.get("text", "")) for b in content if isinstance(b, dict))
    return ""


def echo_last_user(messages: list[dict[str, Any]]) -> str:
    return next((text_of(m.get("content")) for m in reversed(messages)
                 if m.get("role") == "user"), "")


FAULT_KINDS = ("429", "500", "timeout", "slow", "malformed")
MALFORMED = (b"<html>502 bad gateway</html>", b'{"id": "chatcmpl-x", "choices": [{"mess',
             b'{"id": "chatcmpl-x", "object": "chat.completion"}',
             b'{"choices": [{"index": 0, "message": {"role": "assistant", "content": null}, '
             b'"finish_reason": "stop"}]}',
             b'{"choices": [{"index": 0, "message": {"role": "assistant", "content": 42}, '
             b'"finish_reason": "stop"}]}',
             b'{"choices": []}')


@dataclass(frozen=True)
class Faults:
    """Injected faults: ``rate`` of attempts fault, each with one of ``kinds``. A timeout holds
    the answer ``hang_s``; a slow answer adds ``slow_s``."""

    rate: float = 0.2
    kinds: tuple[str, ...] = FAULT_KINDS
    seed: int = 0
    hang_s: float = 2.0
    slow_s: float = 0.3

    def pick(self, body: dict[str, Any], attempt: int) -> tuple[str, int] | None:
        """The fault for this attempt at this body (and a variant number), or None."""
        digest = hashlib.sha256(json.dumps([self.seed, body, attempt], sort_keys=True)
                                .encode()).digest()
        if int.from_bytes(digest[:8], "big") / 2**64 >= self.rate:
            return None
        return self.kinds[digest[8] % len(self.kinds)], digest[9]


class _State:
    """What the handler threads share. Only bookkeeping happens under the lock."""

    def __init__(self, reply: Reply, latency_s: float, fail_plan: list[int],
                 faults: Faults | None = None, max_in_flight: int | None = None) -> None:
        self.reply, self.latency_s, self.faults = reply, latency_s, faults
        self.max_in_flight, self.rate_limited = max_in_flight, 0
        self.lock = threading.Lock()
        self.requests: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        self.fail_plan = list(fail_plan)
        self.seen: dict[str, int] = {}
        self.in_flight = self.peak_in_flight = 0
        self.injected: dict[str, int] = {}


    def record(self, body: dict[str, Any], headers: dict[str, str]) -> int | None:
        """Store a request; return the scripted failure status for it, if any."""
        with self.lock:
            self.requests.append(body)
            self.headers.append(headers)
            return self.fail_plan.pop(0) if self.fail_plan else None

    def fault(self, body: dict[str, Any]) -> tuple[str, int] | None:
        if self.faults is None:
            return None
        key = json.dumps(body, sort_keys=True)
        with self.lock:
            attempt = self.seen.get(key, 0)
            self.seen[key] = attempt + 1
        picked = self.faults.pick(body, attempt)
        if picked is not None:
            with self.lock:
                self.injected[picked[0]] = self.injected.get(picked[0], 0) + 1
        return picked

    def enter(self) -> bool:
        """Start handling a request; False (counted, nothing recorded) beyond
        ``max_in_flight``."""
        with self.lock:
            if self.max_in_flight is not None and self.in_flight >= self.max_in_flight:
                self.rate_limited += 1
                return False
            self.in_flight += 1
            self.peak_in_flight = max(self.peak_in_flight, self.in_flight)
            return True

    def leave(self) -> None:
        with self.lock:
            self.in_flight -= 1


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256

    def __init__(self, address: tuple[str, int], state: _State) -> None:
        self.state = state
        super().__init__(address, _Handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that hung up (e.g. after its own timeout) is not an error; others are."""
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out without a 40 ms delayed-ACK stall
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        return None

    def do_GET(self) -> None:
        """``GET /stats``: requests seen, peak in flight and faults injected (for benchmarks
        that run the server in a process of its own)."""
        if self.path.rstrip("/") != "/stats":
            self._send(404, {"error": {"message": f"no route for GET {self.path}"}})
            return
        state = self.server.state
        with state.lock:
            stats = {"requests": len(state.requests), "peak_in_flight": state.peak_in_flight,
                     "injected": dict(state.injected)}
        self._send(200, stats)

    def do_POST(self) -> None:
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            self._send(400, {"error": {"message": "body is not JSON"}})
            return
        kind = self._kind()
        if kind is None or not isinstance(body, dict):
            self._send(404, {"error": {"message": f"no route for POST {self.path}"}})
            return
        state = self.server.state
        if not state.enter():
            self._fail(429, kind)
            return
        try:
            failure = state.record(body, {k.lower(): v for k, v in self.headers.items()})
            fault = state.fault(body)
            if state.latency_s:
                time.sleep(state.latency_s)
            if failure is not None:
                self._fail(failure, kind)
            elif fault is not None:
                self._inject(fault, kind, body)
            else:
                self._send(200, self._success(kind, body))
        finally:
            state.leave()

    def _inject(self, fault: tuple[str, int], kind: str, body: dict[str, Any]) -> None:
        name, variant = fault
        faults = self.server.state.faults or Faults()
        if name in ("429", "500"):
            self._fail(int(name), kind)
        elif name == "timeout":
            time.sleep(faults.hang_s)
            self._send(200, self._success(kind, body))
        elif name == "slow":
            time.sleep(faults.slow_s)
            self._send(200, self._success(kind, body))
        else:
            self._send_raw(200, MALFORMED[variant % len(MALFORMED)], "application/json")

    def _kind(self) -> str | None:
        path = self.path.split("?", 1)[0].rstrip("/")
        if path.endswith("/chat/completions"):
            return "openai"
        return "anthropic" if path.endswith("/messages") else None

    def _success(self, kind: str, body: dict[str, Any]) -> dict[str, Any]:
        messages = [m for m in body.get("messages", []) if isinstance(m, dict)]
        if kind == "anthropic" and body.get("system"):
            messages = [{"role": "system", "content": text_of(body["system"])}, *messages]
        text = self.server.state.reply(messages)
        limit = body.get("max_tokens") or body.get("max_completion_tokens")
        truncated = isinstance(limit, int) and tokens(text) > limit
        if truncated:
            text = text[: limit * 4]
        usage = (sum(tokens(text_of(m.get("content"))) for m in messages), tokens(text))
        shape = openai_reply if kind == "openai" else anthropic_reply
        return shape(str(body.get("model", "fake")), text, usage, truncated)

    def _fail(self, status: int, kind: str) -> None:
        if status == BAD_BODY:
            self._send_raw(200, b"<html>this is not JSON</html>", "text/html")
            return
        message = f"scripted failure {status}"
        if status == 401:
            given = self.headers.get("Authorization") or self.headers.get("x-api-key") or ""
            message = f"Incorrect API key provided: {given.removeprefix('Bearer ')}"
        error_type = _ERROR_TYPES.get(status, "api_error")
        payload: dict[str, Any] = {"error": {"message": message, "type": error_type}}
        if kind == "anthropic":
            payload = {"type": "error", **payload}
        headers = {"Retry-After": "0"} if status in _RETRY_AFTER_ZERO else {}
        self._send(status, payload, headers)

    def _send(self, status: int, payload: dict[str, Any],
              headers: dict[str, str] | None = None) -> None:
        self._send_raw(status, json.dumps(payload).encode(), "application/json", headers)

    def _send_raw(self, status: int, data: bytes, content_type: str,
                  headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)


def openai_reply(model: str, text: str, usage: tuple[int, int],
                 truncated: bool) -> dict[str, Any]:
    return {
        "id": "chatcmpl-fake", "object": "chat.completion", "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text},
                     "finish_reason": "length" if truncated else "stop"}],
        "usage": {"prompt_tokens": usage[0], "completion_tokens": usage[1],
                  "total_tokens": usage[0] + usage[1]},
    }


def anthropic_reply(model: str, text: str, usage: tuple[int, int],
                    truncated: bool) -> dict[str, Any]:
    return {
        "id": "msg_fake", "type": "message", "role": "assistant", "model": model,
        "content": [{"type": "text", "text": text}],
        "stop_reason": "max_tokens" if truncated else "end_turn", "stop_sequence": None,
        "usage": {"input_tokens": usage[0], "output_tokens": usage[1]},
    }


class FakeServer:
    """A fake OpenAI + Anthropic server on 127.0.0.1. Use it as a context manager.

    ``reply`` maps the chat messages (Anthropic's ``system`` folded in as a first system message)
    to the answer text; the default echoes the last user message.
    """

    def __init__(self, reply: Reply | None = None, latency_s: float = 0.0,
                 fail_plan: list[int] | None = None, *, host: str = "127.0.0.1",
                 port: int = 0, faults: Faults | None = None,
                 max_in_flight: int | None = None) -> None:
        self._state = _State(reply or echo_last_user, latency_s, fail_plan or [], faults,
                             max_in_flight)
        self._server = _Server((host, port), self._state)
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def root(self) -> str:
        """``http://127.0.0.1:PORT`` (the Anthropic SDK's base URL)."""
        return f"http://{self._server.server_address[0]}:{self.port}"

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT/v1`` (an OpenAI-compatible base URL)."""
        return f"{self.root}/v1"

    @property
    def requests(self) -> list[dict[str, Any]]:
        """A snapshot of the JSON bodies received so far, in arrival order."""
        with self._state.lock:
            return list(self._state.requests)

    @property
    def headers(self) -> list[dict[str, str]]:
        """A snapshot of the request headers (lower-cased names), in arrival order."""
        with self._state.lock:
            return list(self._state.headers)

    @property
    def count(self) -> int:
        with self._state.lock:
            return len(self._state.requests)

    @property
    def rate_limited(self) -> int:
        """Requests answered 429 for arriving beyond ``max_in_flight``."""
        with self._state.lock:
            return self._state.rate_limited

    @property
    def peak_in_flight(self) -> int:
        """The most requests handled at once so far."""
        with self._state.lock:
            return self._state.peak_in_flight

    @property
    def injected(self) -> dict[str, int]:
        """Faults injected so far, by kind."""
        with self._state.lock:
            return dict(self._state.injected)

    def start(self) -> FakeServer:
        if self._thread is None:
            self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,),
                                            name="honed-fake-server", daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join()
            self._thread = None
        self._server.server_close()

    def serve_forever(self) -> None:
        self._server.serve_forever()

    def __enter__(self) -> FakeServer:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()


if __name__ == "__main__":
    # The process entry (arguments, printing the URL) lives at the CLI edge.
    from honed.cli.fake_server import main

    main()
