from __future__ import annotations

import asyncio
import http.client
import json
import os
import subprocess
import sys
import time
from typing import Any

import httpx

from honed.providers.fake_server import BAD_BODY, FakeServer

CHAT = {"model": "m", "messages": [{"role": "system", "content": "Be brief."},
                                   {"role": "user", "content": "hello there"}]}
ANTHROPIC = {"model": "claude", "max_tokens": 100, "system": "Be brief.",
             "messages": [{"role": "user", "content": [{"type": "text", "text": "hi"}]}]}


def post(url: str, body: Any, path: str = "/chat/completions") -> httpx.Response:
    return httpx.post(url + path, json=body, timeout=5)


def test_openai_shape_echo_and_usage() -> None:
    with FakeServer() as server:
        data = post(server.url, CHAT).json()
        assert server.url.startswith("http://127.0.0.1:") and server.url.endswith("/v1")
        assert server.requests == [CHAT]
        assert server.count == 1
    choice = data["choices"][0]
    assert choice["message"] == {"role": "assistant", "content": "hello there"}
    assert choice["finish_reason"] == "stop"
    assert data["model"] == "m"
    assert data["usage"] == {"prompt_tokens": 3 + 3, "completion_tokens": 3, "total_tokens": 9}


def test_anthropic_shape_folds_system_into_reply_messages() -> None:
    seen: list[list[dict[str, Any]]] = []

    def reply(messages: list[dict[str, Any]]) -> str:
        seen.append(messages)
        return "ok"

    with FakeServer(reply) as server:
        response = post(server.url, ANTHROPIC, "/messages")
    data = response.json()
    assert data["type"] == "message"
    assert data["content"] == [{"type": "text", "text": "ok"}]
    assert data["stop_reason"] == "end_turn"
    assert data["usage"] == {"input_tokens": 3 + 1, "output_tokens": 1}
    assert seen[0][0] == {"role": "system", "content": "Be brief."}


def test_reply_is_truncated_to_max_tokens() -> None:
    with FakeServer(lambda m: "x" * 100) as server:
        data = post(server.url, {**CHAT, "max_tokens": 5}).json()
    assert data["choices"][0]["message"]["content"] == "x" * 20
    assert data["choices"][0]["finish_reason"] == "length"


def test_fail_plan_then_success() -> None:
    with FakeServer(fail_plan=[429, 503]) as server:
        first, second, third = (post(server.url, CHAT) for _ in range(3))
        assert server.count == 3
    assert first.status_code == 429
    assert first.headers["retry-after"] == "0"
    assert first.json()["error"]["type"] == "rate_limit_error"
    assert second.status_code == 503
    assert "retry-after" not in second.headers
    assert third.status_code == 200


def test_anthropic_error_shape_and_bad_body() -> None:
    with FakeServer(fail_plan=[529, BAD_BODY]) as server:
        overloaded = post(server.url, ANTHROPIC, "/messages")
        garbage = post(server.url, ANTHROPIC, "/messages")
    assert overloaded.status_code == 529
    assert overloaded.json() == {"type": "error", "error": {
        "message": "scripted failure 529", "type": "overloaded_error"}}
    assert garbage.status_code == 200
    assert garbage.headers["content-type"] == "text/html"


def test_401_echoes_the_credentials_like_real_servers() -> None:
    with FakeServer(fail_plan=[401]) as server:
        response = httpx.post(server.url + "/chat/completions", json=CHAT,
                              headers={"Authorization": "Bearer sk-echo"})
    assert response.status_code == 401
    assert "sk-echo" in response.json()["error"]["message"]


def test_unknown_path_and_invalid_json() -> None:
    with FakeServer() as server:
        missing = post(server.url, CHAT, "/embeddings")
        invalid = httpx.post(server.url + "/chat/completions", content=b"{nope")
        assert server.count == 0
    assert missing.status_code == 404
    assert invalid.status_code == 400


def test_keep_alive_serves_many_requests_on_one_connection() -> None:
    with FakeServer() as server:
        connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
        sockets = set()
        for _ in range(3):
            connection.request("POST", "/v1/chat/completions", json.dumps(CHAT),
                               {"Content-Type": "application/json"})
            response = connection.getresponse()
            assert response.status == 200
            json.loads(response.read())
            sockets.add(id(connection.sock))
        connection.close()
    assert len(sockets) == 1


def test_32_concurrent_connections_at_100ms_do_not_queue() -> None:
    async def burst(url: str) -> float:
        limits = httpx.Limits(max_connections=32, max_keepalive_connections=32)
        async with httpx.AsyncClient(base_url=url, limits=limits, timeout=10) as client:
            start = time.perf_counter()
            for _ in range(2):
                responses = await asyncio.gather(
                    *(client.post("/chat/completions", json=CHAT) for _ in range(32)))
                assert all(r.status_code == 200 for r in responses)
            return time.perf_counter() - start

    with FakeServer(latency_s=0.1) as server:
        elapsed = asyncio.run(burst(server.url))
        assert server.count == 64
    assert elapsed < 3.0  # 0.2 s unqueued; 6.4 s serialized, 3.2 s two at a time (busy host)


def test_requests_snapshot_is_a_copy() -> None:
    with FakeServer() as server:
        post(server.url, CHAT)
        server.requests.clear()
        assert server.count == 1
        assert server.headers[0]["content-type"] == "application/json"


def test_module_entry_point_serves_until_killed() -> None:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(
        [sys.executable, "-m", "honed.providers.fake_server", "--port", "0", "--latency", "0"],
        stdout=subprocess.PIPE, text=True, env=env)
    try:
        assert process.stdout is not None
        url = process.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:") and url.endswith("/v1")
        assert post(url, CHAT).json()["choices"][0]["message"]["content"] == "hello there"
        assert process.poll() is None
    finally:
        process.terminate()
        process.wait(timeout=10)
