"""``create_app``: the FastAPI app that serves registered prompts. No globals: everything an
app needs hangs off ``app.state`` (the store, the model pool, metrics, the rate limiter).

The caller owns ``store`` (opens and closes it); the app owns its model clients and response
cache, opened lazily and closed when the app shuts down.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from honed import __version__
from honed.lifecycle.registry import PromptRegistry
from honed.server.auth import RateLimiter
from honed.server.errors import ApiError
from honed.server.limits import BodyLimit
from honed.server.metrics import Metrics
from honed.server.models import ModelPool
from honed.server.service import Service

log = logging.getLogger("honed.server")
MAX_BODY_BYTES = 1_000_000
RATE_PER_MINUTE = 600


def create_app(home: str | Path, store: Any, registry: PromptRegistry | None = None,
               model_override: str | None = None, *, max_body_bytes: int = MAX_BODY_BYTES,
               rate_per_minute: float | None = RATE_PER_MINUTE, burst: int | None = None,
               cache: bool = True, experiment_check_s: float | None = 60.0) -> FastAPI:
    """The app over ``store`` (production log and keys) and the prompt registry under ``home``
    (or ``registry``). ``model_override`` is the model for versions that record none
    (default ``local``); ``rate_per_minute=None`` turns the per-key rate limit off.
    Running experiments are checked every ``experiment_check_s`` seconds (None: never)."""
    from honed.server import openai_routes, routes

    home = Path(home)
    pool = ModelPool(home, model_override=model_override, cache=cache)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        log.info("serving prompts from %s", home)
        app.state.service.start_checks(experiment_check_s)
        try:
            yield
        finally:
            await app.state.service.stop_checks()
            await pool.aclose()

    app = FastAPI(title="honed", version=__version__, lifespan=lifespan, docs_url=None,
                  redoc_url=None)
    metrics = Metrics()
    app.state.store = store
    app.state.service = Service(home, store, registry, pool, metrics)
    app.state.limiter = (RateLimiter(rate_per_minute, burst) if rate_per_minute else None)
    app.include_router(routes.router)
    app.include_router(openai_routes.router)
    _handlers(app, metrics)
    app.add_middleware(BodyLimit, max_bytes=max_body_bytes)
    return app


def _handlers(app: FastAPI, metrics: Metrics) -> None:
    @app.exception_handler(ApiError)
    async def api_error(_: Request, exc: ApiError) -> JSONResponse:
        metrics.error_answer(exc.status, exc.code)
        return JSONResponse(exc.body(), status_code=exc.status, headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        where = "; ".join(f"{'.'.join(map(str, e.get('loc', ())))}: {e.get('msg', '')}"
                          for e in exc.errors())
        metrics.error_answer(422, "bad_request")
        return JSONResponse(ApiError(422, where, code="bad_request").body(), status_code=422)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        return JSONResponse(ApiError(500, "internal error (see the server log)").body(),
                            status_code=500)
