"""``create_app``: the dashboard (FastAPI, Jinja2 templates, HTMX; no build step, every asset
served from the package). Everything hangs off ``app.state`` (the sources, the sessions, the
templates); no globals.

Safe by default: the CLI binds 127.0.0.1; reading needs no key, changing needs an admin key
(``honed.web.session``); every page is autoescaped and sent with a Content-Security-Policy
that allows scripts and styles from this origin only; requests whose Host is not this server
are refused (a page elsewhere cannot reach it by DNS rebinding).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI, Request, Response
from fastapi.staticfiles import StaticFiles

from honed import __version__
from honed.errors import ConfigError
from honed.server.errors import ApiError, describe
from honed.web.pages import error_page
from honed.web.session import Sessions
from honed.web.sources import Sources
from honed.web.templating import STATIC, environment

log = logging.getLogger("honed.web")
POLICY = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
          "connect-src 'self'; font-src 'none'; object-src 'none'; frame-ancestors 'none'; "
          "base-uri 'none'; form-action 'self'")
LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")


def create_app(home: str | Path, *, db_url: str | None = None, backend: str | None = None,
               bind_host: str = "127.0.0.1", poll_s: float = 0.5) -> FastAPI:
    """The dashboard over the state in ``home`` (the production log: ``db_url``, else
    ``$HONED_DB``, else ``home/serve.sqlite``; the registry: ``backend``, else
    ``$HONED_REGISTRY``, else local). ``poll_s``: how often a live run page checks for news."""
    from honed.web.routes import drift, experiments, loop, production, registry, runs

    sources = Sources(Path(home), db_url=db_url, backend=backend)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        try:
            yield
        finally:
            sources.close()

    app = FastAPI(title="honed dashboard", version=__version__, lifespan=lifespan,
                  docs_url=None, redoc_url=None, openapi_url=None)
    app.state.sources = sources
    app.state.sessions = Sessions()
    app.state.env = environment()
    app.state.poll_s = poll_s
    app.state.hosts = _hosts(bind_host)
    for module in (runs, registry, production, experiments, drift, loop):
        app.include_router(module.router)
    app.mount("/static", StaticFiles(directory=str(STATIC)), name="static")
    _guards(app)
    _handlers(app)
    return app


def _hosts(bind_host: str) -> frozenset[str] | None:
    """The Host names this server answers to (None: any, when bound to every interface)."""
    if bind_host in ("0.0.0.0", "::", ""):
        return None
    return frozenset({*LOCAL_HOSTS, bind_host})


def _guards(app: FastAPI) -> None:
    @app.middleware("http")
    async def headers(request: Request,
                      call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        hosts = request.app.state.hosts
        host = (request.headers.get("host") or "").rsplit(":", 1)[0].strip("[]")
        if hosts is not None and host not in hosts:
            return Response("unknown host", status_code=400, media_type="text/plain")
        response = await call_next(request)
        response.headers.setdefault("Content-Security-Policy", POLICY)
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "no-referrer"
        response.headers["X-Frame-Options"] = "DENY"
        static = request.url.path.startswith("/static/")
        response.headers.setdefault("Cache-Control", "max-age=3600" if static else "no-store")
        return response


def _handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def api_error(request: Request, exc: ApiError) -> Response:
        return error_page(request, exc.status, exc.message, exc.headers)

    @app.exception_handler(ConfigError)
    async def config_error(request: Request, exc: ConfigError) -> Response:
        return error_page(request, 404, describe(exc))

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> Response:
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        return error_page(request, 500, "internal error (see the server's log)")
