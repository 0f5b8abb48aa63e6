"""Rendering a dashboard page: the template, the navigation and who is signed in."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse

from honed.server.errors import ApiError
from honed.web.session import Admin, admin_of

NAV = (("/runs", "Runs"), ("/registry", "Registry"), ("/production", "Production"),
       ("/experiments", "Experiments"), ("/drift", "Drift"), ("/loop", "Loop"))
# the pages over the tables experiments, monitoring and the loop add to the production log
# (their first addresses, still answered with a redirect)
PANELS = {"experiments": "/experiments", "drift": "/drift", "loop": "/loop"}


def current_admin(request: Request) -> Admin | None:
    """The signed-in admin, if any (a bad bearer key shows as signed out on a page)."""
    try:
        return admin_of(request)
    except ApiError:
        return None


def is_fragment(request: Request) -> bool:
    """An HTMX request, answered with the part of the page it swaps."""
    return request.headers.get("hx-request") == "true"


def render(request: Request, template: str, status: int = 200,
           headers: Mapping[str, str] | None = None, **context: Any) -> HTMLResponse:
    admin = current_admin(request)
    html = request.app.state.env.get_template(template).render(
        standalone=False, path=request.url.path, nav=NAV, admin=admin,
        here=request.url.path + (f"?{request.url.query}" if request.url.query else ""),
        csrf=admin.session.csrf if admin and admin.session else "", **context)
    return HTMLResponse(html, status_code=status, headers=dict(headers or {}))


def error_page(request: Request, status: int, message: str,
               headers: Mapping[str, str] | None = None) -> HTMLResponse:
    return render(request, "error.html", status=status, headers=headers, status_code=status,
                  message=message)
