"""The local model server (DSPy's way into honed's engine) refuses every request without its exact
token, before the request reaches the model, and listens on 127.0.0.1 only.

``tests/providers/test_model_server.py`` checks a missing, wrong and empty bearer token on the
chat route. Here: every route (with and without ``/v1``), and the ways a token can be almost right
(another server's, one character short or long, another case, another scheme, another header,
the query string), the body of a refused request never read, and where the server listens.
"""

from __future__ import annotations

import asyncio
import base64
import inspect
import json
import re
import socket
from pathlib import Path
from typing import Any

import aiohttp

import honed
from honed.providers.fake import FakeModel
from honed.providers.model_server import CallQuota, ModelServer
from honed.testing import record_figures as record

CHAT = {"model": "m", "messages": [{"role": "user", "content": "hello"}]}
ROUTES = (("POST", "/v1/chat/completions"), ("POST", "/chat/completions"),
          ("GET", "/v1/models"), ("GET", "/models"))



def bad_credentials(token: str, other: str) -> dict[str, tuple[dict[str, str], str]]:
    """Name -> (headers, query string) that must all be refused."""
    bearer = lambda value: {"Authorization": f"Bearer {value}"}  # noqa: E731
    return {
        "none": ({}, ""), "empty bearer": (bearer(""), ""), "wrong": (bearer("wrong"), ""),
        "another server's": (bearer(other), ""), "one short": (bearer(token[:-1]), ""),
        "one long": (bearer(token + "x"), ""), "swapped case": (bearer(token.swapcase()), ""),
        "basic scheme": ({"Authorization": "Basic " + base64.b64encode(
            f"user:{token}".encode()).decode()}, ""),
        "token scheme": ({"Authorization": f"Token {token}"}, ""),
        "no scheme": ({"Authorization": token}, ""),
        "x-api-key header": ({"x-api-key": token}, ""),
        "proxy header": ({"Proxy-Authorization": f"Bearer {token}"}, ""),
        "query string": ({}, f"?api_key={token}"),
    }


async def probe(http: aiohttp.ClientSession, server: ModelServer, method: str, path: str,
                headers: dict[str, str], query: str = "",
                body: str | None = json.dumps(CHAT)) -> tuple[int, str]:
    url = server.root + path + query
    async with http.request(method, url, data=body if method == "POST" else None, headers={
            "Content-Type": "application/json", **headers}) as resp:
        return resp.status, await resp.text()


def test_every_route_refuses_every_almost_right_token_before_the_model() -> None:
    model, quota = FakeModel("hi"), CallQuota(100)
    figures: dict[str, Any] = {}

    async def go() -> None:
        async with ModelServer(model, quota=quota) as server, \
                ModelServer(FakeModel()) as other, aiohttp.ClientSession() as http:
            bad = bad_credentials(server.token, other.token)
            refused = 0
            for method, path in ROUTES:
                for name, (headers, query) in bad.items():
                    status, text = await probe(http, server, method, path, headers, query)
                    assert status == 401, (method, path, name, status)
                    assert server.token not in text and other.token not in text
                    refused += 1
                status, _ = await probe(http, server, method, path,
                                        {"Authorization": f"Bearer {server.token}"})
                assert status == 200, (method, path)
            stats = server.stats
            assert stats.unauthorized == refused and stats.requests == 2  # the two good chats
            figures.update(routes=len(ROUTES), credentials=len(bad), refused=refused,
                           reached_model=len(model.calls) - 2)

    asyncio.run(go())
    assert len(model.calls) == 2 and quota.used == 2  # only the authorized calls
    record("model_server_token", figures)


def test_the_token_is_checked_before_the_body_is_parsed() -> None:
    """A large body that is not JSON gets 401, not 400: nothing of it is parsed first."""
    model = FakeModel("hi")

    async def go() -> None:
        async with ModelServer(model) as server, aiohttp.ClientSession() as http:
            junk = "{not json " * 400_000
            status, _ = await probe(http, server, "POST", "/v1/chat/completions", {}, "", junk)
            assert status == 401 and server.stats.requests == 0 and server.stats.failed == 0
            good = {"Authorization": f"Bearer {server.token}"}
            status, _ = await probe(http, server, "POST", "/v1/chat/completions", good, "", junk)
            assert status == 400  # the same body, authorized, is parsed and refused as bad

    asyncio.run(go())
    assert not model.calls


def test_it_listens_on_127_0_0_1_only() -> None:
    async def go() -> tuple[list[Any], int]:
        async with ModelServer(FakeModel()) as server:
            addresses = list(server._runner.addresses)  # type: ignore[union-attr]
            port = server.port
            refused = await asyncio.to_thread(connect_refused, "127.0.0.2", port)
            reached = not await asyncio.to_thread(connect_refused, "127.0.0.1", port)
            assert refused and reached, "bound to 127.0.0.1, not to every address"
            return addresses, port

    addresses, port = asyncio.run(go())
    assert [a[0] for a in addresses] == ["127.0.0.1"] and addresses[0][1] == port
    assert inspect.signature(ModelServer).parameters["host"].default == "127.0.0.1"


def connect_refused(host: str, port: int) -> bool:
    """Is a TCP connection to host:port refused? (127.0.0.2 is loopback too on Linux, so a
    server bound to every address would accept it.)"""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(2)
        return sock.connect_ex((host, port)) != 0


def test_no_caller_in_honed_chooses_another_host() -> None:
    root = Path(honed.__file__).parent
    calls = [(path, match.group(0)) for path in root.rglob("*.py")
             for match in re.finditer(r"ModelServer\((?:[^()]|\([^()]*\))*\)", path.read_text())
             if path.name != "model_server.py"]
    assert calls, "the DSPy backend starts model servers"
    assert not [c for c in calls if "host" in c[1]], calls
