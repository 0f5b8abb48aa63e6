"""The continuous-learning loop: per loop, where it stands (its cycle, the running experiment,
the last outcome, what the last 24 hours spent) and its cycles, newest first, step by step.

Only the events that matter are read: each loop's latest cycle and its last 24 hours (what
``honed.loop.history.state`` needs for what is shown here), and the shown cycles of the chosen
loop."""

from __future__ import annotations

import time
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from honed.web.loop_view import SHOWN, cycles
from honed.web.pages import render

router = APIRouter()
CYCLES = 25  # cycles shown at first; "older" shows more
DAY_S = 86_400.0


def loop_state(store: Any, item: dict[str, Any], now: float) -> Any:
    """The loop's state from its latest cycle and its last 24 hours of events (the alarms
    its cycles answered are not shown, so older events are not read)."""
    from honed.loop.history import state

    events = {int(e["id"]): e for e in store.events(item["loop"], since=now - DAY_S)}
    if item["cycle"] > 0:
        events.update((int(e["id"]), e) for e in store.cycle_events(item["loop"],
                                                                    item["cycle"]))
    return state(list(events.values()), now)


@router.get("/loop", response_class=HTMLResponse)
async def loop_page(request: Request, loop: str = "", show: int = CYCLES) -> Response:
    from honed.errors import ConfigError
    from honed.store.monitor import MonitorStore

    log = request.app.state.sources.log()
    if log is None:
        return render(request, "loop.html", log=False, loops=[], chosen=None, cycles=[],
                      show=show, more=False, steps=SHOWN)
    store, now, show = MonitorStore.of(log), time.time(), max(1, min(show, 10_000))
    loops: list[dict[str, Any]] = store.loops()
    names = [item["loop"] for item in loops]
    if loop and loop not in names:
        raise ConfigError(f"no loop named {loop!r} in the production log",
                          fix=f"loops: {', '.join(names) or 'none yet'}")
    chosen = loop or (names[0] if names else None)
    shown: list[Any] = []
    more = False
    for item in loops:
        item["state"] = loop_state(store, item, now)
        if item["loop"] == chosen:
            first = max(item["first_cycle"], item["cycle"] - show + 1)
            shown = cycles(store.cycle_events(chosen, first), limit=show)
            more = first > item["first_cycle"]
    return render(request, "loop.html", log=True, loops=loops, chosen=chosen, cycles=shown,
                  show=show, more=more, steps=SHOWN)
