"""Online experiments: every experiment with its last check (running ones first), and an
experiment's page with its arms, the sequential test, the sample-ratio check, guardrails, its
history and its decisions. Read from the stored results: a page load measures nothing."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from honed.web.evidence import decision_items, pretty
from honed.web.experiments_view import (
    HISTORY_LIMIT,
    experiment_view,
    history,
    ordered,
    timeline_chart,
)
from honed.web.pages import render

router = APIRouter()
STATUSES = ("running", "won", "lost", "breached", "expired", "stopped")


def _store(request: Request) -> Any:
    from honed.store.experiments import ExperimentStore

    log = request.app.state.sources.log()
    return None if log is None else ExperimentStore.of(log)


@router.get("/experiments", response_class=HTMLResponse)
async def experiments_page(request: Request, status: str = "", prompt: str = "") -> Response:
    es = _store(request)
    if es is None:
        return render(request, "experiments.html", log=False, views=[], prompts=[],
                      statuses=STATUSES, wanted=status, prompt=prompt, total=0)
    rows = es.experiments()
    prompts = sorted({str(r["prompt"]) for r in rows})
    chosen = [r for r in rows if (not status or r["status"] == status)
              and (not prompt or r["prompt"] == prompt)]
    return render(request, "experiments.html", log=True,
                  views=ordered([experiment_view(r) for r in chosen]), prompts=prompts,
                  statuses=STATUSES, wanted=status, prompt=prompt, total=len(rows))


def decision_view(row: dict[str, Any]) -> dict[str, Any]:
    evidence = row.get("evidence") or {}
    return {**row, "items": decision_items(evidence), "json": pretty(evidence)}


@router.get("/experiments/{name}", response_class=HTMLResponse)
async def experiment_page(request: Request, name: str) -> Response:
    from honed.errors import ConfigError

    es = _store(request)
    if es is None:
        raise ConfigError(f"no experiment named {name!r}: there is no production log here yet",
                          fix="`honed serve` creates it; `honed experiment start` adds one")
    row = es.get(name)  # UnknownExperimentError (a ConfigError: 404) names a missing one
    view = experiment_view(row)
    line = history(es, row, row.get("result"))
    decisions = [decision_view(d) for d in es.decisions(experiment=name)]
    drawn = line is not None and line.kind != "skipped"
    return render(request, "experiment.html", e=view, line=line,
                  plot=timeline_chart(line) if drawn else None, limit=HISTORY_LIMIT,
                  decisions=decisions, result_json=pretty(row.get("result")))
