"""Standalone HTML documents: one file that opens with no network. Styles and the one script
are inlined; a Content-Security-Policy allows exactly that script (by hash) and loads nothing
from anywhere, so even text that slipped through unescaped could not run or fetch."""

from __future__ import annotations

import time

import jinja2
from markupsafe import Markup

from honed import __version__
from honed.lifecycle.report.data import CompareReport, RunReport
from honed.web.templating import asset, csp_hash, environment
from honed.web.views import compare_context, run_context


def _standalone() -> dict[str, object]:
    script = asset("report.js")
    return {"standalone": True, "css": Markup(asset("honed.css")), "script": Markup(script),
            "csp_script": csp_hash(script), "version": __version__, "generated": time.time()}


def report_html(report: RunReport, env: jinja2.Environment | None = None) -> str:
    """A run's report as one self-contained HTML document (``env``: a prepared environment,
    whose compiled templates a server reuses)."""
    return (env or environment()).get_template("report.html").render(**_standalone(),
                                                                     **run_context(report))


def compare_html(report: CompareReport, env: jinja2.Environment | None = None) -> str:
    """A comparison as one self-contained HTML document."""
    return (env or environment()).get_template("compare_report.html").render(
        **_standalone(), **compare_context(report))
