"""Drift alarms: open ones first with their evidence, then cleared ones (a page at a time) with
who cleared them. Clearing one alarm, or every open alarm of a prompt, acknowledges it (as
``honed monitor clear`` does): an admin action behind a confirmation page."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from honed.errors import ConfigError
from honed.server.errors import ApiError
from honed.web.evidence import alarm_items, pretty
from honed.web.pages import render
from honed.web.routes.registry import form
from honed.web.session import require_admin

router = APIRouter()
PAGE = 50  # cleared alarms per page


def _store(request: Request) -> Any:
    from honed.store.monitor import MonitorStore

    log = request.app.state.sources.log()
    return None if log is None else MonitorStore.of(log)


def alarm_view(row: dict[str, Any]) -> dict[str, Any]:
    evidence = row.get("evidence") or {}
    return {**row, "lines": alarm_items(str(row["kind"]), evidence), "json": pretty(evidence)}


@router.get("/drift", response_class=HTMLResponse)
async def drift_page(request: Request, prompt: str = "", page: int = 1,
                     done: str = "") -> Response:
    store = _store(request)
    if store is None:
        return render(request, "drift.html", log=False, counts={}, open=[], cleared=[],
                      prompt=prompt, page=1, pages=1, done=done)
    counts = store.alarm_counts()
    chosen = prompt or None
    total = sum(c["cleared"] for p, c in counts.items() if chosen in (None, p))
    pages = max(1, -(-total // PAGE))
    page = min(max(1, page), pages)
    return render(request, "drift.html", log=True, counts=counts,
                  open=[alarm_view(a) for a in store.alarms(chosen, open_only=True)],
                  cleared=[alarm_view(a) for a in store.cleared_alarms(
                      chosen, limit=PAGE, offset=(page - 1) * PAGE)],
                  prompt=prompt, page=page, pages=pages, done=done)


def _targets(store: Any, prompt: str, alarm: int | None) -> list[dict[str, Any]]:
    """The open alarms a clear would acknowledge; a ConfigError when there are none."""
    if store is None:
        raise ConfigError("there is no production log here yet", fix="`honed serve` creates it")
    if alarm is not None:
        found = store.alarm(alarm)
        if found is None or found["prompt"] != prompt:
            raise ConfigError(f"no alarm {alarm} of prompt {prompt!r}",
                              fix="pick one on the drift page")
        if found["cleared_at"] is not None:
            raise ConfigError(f"alarm {alarm} is cleared already (by {found['cleared_by']})",
                              fix="nothing to do")
        return [found]
    found_all = store.alarms(prompt, open_only=True)
    if not found_all:
        raise ConfigError(f"prompt {prompt!r} has no open alarm", fix="nothing to clear")
    return found_all


@router.get("/drift/clear", response_class=HTMLResponse)
async def clear_confirm(request: Request, prompt: str, alarm: int | None = None) -> Response:
    targets = _targets(_store(request), prompt, alarm)
    return render(request, "drift_clear.html", prompt=prompt, alarm=alarm,
                  targets=[alarm_view(a) for a in targets])


def _alarm_field(fields: dict[str, str]) -> int | None:
    raw = fields.get("alarm", "").strip()
    if not raw:
        return None
    try:
        return int(raw)
    except ValueError:
        raise ApiError(422, f"the form's alarm {raw!r} is not an alarm id",
                       code="bad_form") from None


@router.post("/drift/clear")
async def clear_action(request: Request) -> Response:
    fields = await form(request)
    admin = require_admin(request, fields.get("csrf"))
    prompt, alarm = fields.get("prompt", ""), _alarm_field(fields)
    store = _store(request)
    targets = _targets(store, prompt, alarm)
    cleared = store.clear_alarms(prompt, by=f"admin key {admin.key_id} (dashboard)",
                                 ids=[int(a["id"]) for a in targets])
    done = f"cleared {cleared} alarm{'s' if cleared != 1 else ''} of {prompt}"
    return RedirectResponse(f"/drift?prompt={quote(prompt)}&done={quote(done)}",
                            status_code=303)
