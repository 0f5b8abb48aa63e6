"""Production, from the log of ``honed serve``: traffic, quality (feedback), errors, cost and
latency over time per prompt version, the latest feedback. (Experiments, drift and the loop
have pages of their own; ``/panels/KIND``, their first addresses, redirects there.)"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from markupsafe import Markup

from honed.errors import ConfigError
from honed.lifecycle.report.production import RANGES, Production, production_report
from honed.web.pages import PANELS, render
from honed.web.svg import Series, chart, clock, time_ticks

router = APIRouter()


def production_charts(report: Production) -> list[tuple[str, str, Markup]]:
    """One chart per measure, a line per prompt version, over the report's buckets."""
    measures = (("requests", "requests per bucket", lambda s: float(s.requests)),
                ("errors", "error rate", lambda s: s.error_rate if s.requests else None),
                ("latency", "latency p95 (s)", lambda s: s.latency_p95_s),
                ("cost", "cost (USD)", lambda s: s.cost_usd if s.requests else None),
                ("quality", "feedback quality (0-1), by when the request was served",
                 lambda s: s.quality))
    labels = sorted({s.label for s in report.buckets})
    charts = []
    for key, title, value in measures:
        series = []
        for label in labels:
            values = [(s.start, value(s)) for s in report.buckets
                      if s.label == label and (s.requests or key == "quality")]
            points = [(x, float(y)) for x, y in values if y is not None]
            if points:
                series.append(Series(label, points, "dotline"))
        if series:
            charts.append((key, title, chart(series, x_label="time", y_label=title, width=560,
                                             height=220, x_format=clock, x_ticks=time_ticks)))
    return charts


@router.get("/production", response_class=HTMLResponse)
async def production_page(request: Request, range: str = "7d",
                          prompt: str = "") -> Response:
    store = request.app.state.sources.log()
    if store is None:
        return render(request, "production.html", report=None, charts=[], ranges=RANGES,
                      range=range, prompt=prompt)
    report = production_report(store, range_name=range, prompt=prompt or None,
                               feedback_rows=25)
    return render(request, "production.html", report=report, charts=production_charts(report),
                  ranges=RANGES, range=report.range, prompt=prompt)


@router.get("/panels/{kind}")
async def panel_page(kind: str) -> Response:
    """The first addresses of the experiments, drift and loop pages."""
    if kind not in PANELS:
        raise ConfigError(f"no dashboard page {kind!r}",
                          fix=f"pages: {', '.join(PANELS.values())}")
    return RedirectResponse(PANELS[kind], status_code=308)
