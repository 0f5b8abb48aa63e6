"""Runs: the list (search, filters, sort), a run's page (the report's views, live while the run
is in progress, over server-sent events) and the comparison of two or more runs."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response, StreamingResponse

from honed.errors import ConfigError
from honed.lifecycle.report import compare_report, find_run, run_report
from honed.lifecycle.report.runs import SORTS, RunQuery, facets, run_rows, select_runs
from honed.tracking.store import RunStore
from honed.web.pages import is_fragment, render
from honed.web.views import compare_context, run_context

router = APIRouter()
STREAM_S = 3600.0  # an event stream ends after this; the browser reconnects by itself
HEARTBEAT_S = 15.0


def _store(request: Request) -> RunStore:
    store = request.app.state.sources.runs()
    if store is None:
        raise ConfigError("there are no runs here yet", fix="run `honed optimize TASK` first")
    return store


@router.get("/")
async def home() -> Response:
    return RedirectResponse("/runs", status_code=307)


@router.get("/healthz")
async def healthz() -> Response:
    return Response("ok", media_type="text/plain")


@router.get("/runs", response_class=HTMLResponse)
async def runs_page(request: Request, q: str = "", status: str = "", task: str = "",
                    optimizer: str = "", sort: str = "created", order: str = "desc") -> Response:
    store = request.app.state.sources.runs()
    rows = run_rows(store) if store is not None else []
    query = RunQuery(q, status, task, optimizer, sort if sort in SORTS else "created",
                     order != "asc")
    shown = select_runs(rows, query)
    template = "runs_table.html" if is_fragment(request) else "runs.html"
    return render(request, template, rows=shown, total=len(rows), query=query,
                  facets=facets(rows), sorts=SORTS)


def _run_page_context(request: Request, run_id: str) -> dict[str, Any]:
    sources = request.app.state.sources
    report = run_report(_store(request), run_id, tasks=sources.tasks,
                        registry=sources.registry())
    return run_context(report)


@router.get("/runs/{run_id}", response_class=HTMLResponse)
async def run_page(request: Request, run_id: str) -> Response:
    return render(request, "run.html", **_run_page_context(request, run_id))


@router.get("/runs/{run_id}/views", response_class=HTMLResponse)
async def run_views(request: Request, run_id: str) -> Response:
    """The run's views alone: what the live page swaps in."""
    return render(request, "views/run.html", **_run_page_context(request, run_id))


@router.get("/runs/{run_id}/report.html")
async def run_report_file(request: Request, run_id: str) -> Response:
    """The standalone report of the run, as ``honed report`` writes it."""
    from honed.web.document import report_html

    sources = request.app.state.sources
    report = run_report(_store(request), run_id, tasks=sources.tasks,
                        registry=sources.registry())
    name = f"honed-report-{report.run.id}.html"
    return HTMLResponse(report_html(report, request.app.state.env), headers={
        "Content-Disposition": f'attachment; filename="{name}"',
        "Content-Security-Policy": "default-src 'none'; sandbox"})


@router.get("/runs/{run_id}/events")
async def run_events(request: Request, run_id: str) -> Response:
    """Server-sent events: ``update`` whenever the run records something, ``done`` when it
    ends (the page then fetches its views again)."""
    store = _store(request)
    row = find_run(store, run_id)
    poll_s = float(request.app.state.poll_s)

    async def stream() -> AsyncIterator[str]:
        last, started, beat = None, time.monotonic(), time.monotonic()
        while time.monotonic() - started < STREAM_S:
            progress = store.progress(row.id)
            if progress is None:
                break
            if progress != last:
                last, beat = progress, time.monotonic()
                data = json.dumps({"status": progress[0], "steps": progress[2]})
                yield f"event: update\ndata: {data}\n\n"
                if progress[0] != "running":
                    yield f"event: done\ndata: {data}\n\n"
                    break
            elif time.monotonic() - beat > HEARTBEAT_S:
                beat = time.monotonic()
                yield ": still running\n\n"
            await asyncio.sleep(poll_s)

    return StreamingResponse(stream(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})


@router.get("/compare", response_class=HTMLResponse)
async def compare_page(request: Request,
                       run: Annotated[list[str] | None, Query()] = None) -> Response:
    """Two or more runs (or registry versions, ``NAME@ALIAS`` / ``NAME/VERSION``) side by side."""
    specs = [s for s in (run or []) if s.strip()]
    if len(specs) < 2:
        return render(request, "compare.html", compare=None, specs=specs,
                      message="pick two or more runs to compare (tick them in the runs list)")
    sources = request.app.state.sources
    report = compare_report(specs, store=sources.runs(), registry=sources.registry(),
                            tasks=sources.tasks)
    return render(request, "compare.html", specs=specs, message="",
                  **compare_context(report))
