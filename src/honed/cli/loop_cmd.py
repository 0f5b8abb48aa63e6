"""``honed loop tick|run|status``: the continuous-learning loop over the production log and the
prompt registry of this home. Thin edges over ``honed.loop``: parse, call, render."""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer

from honed.cli.options import JsonOpt

LoopArg = Annotated[Path, typer.Argument(help="the loop file (loop.yaml)", show_default=False)]


@contextmanager
def _context(path: Path) -> Iterator[Any]:
    from honed.cli.keys_cmd import open_log_and_registry
    from honed.engine.session import honed_home
    from honed.loop import TickContext, load_loop

    config = load_loop(path)
    with open_log_and_registry() as (store, registry):
        yield TickContext(config, store, registry, honed_home())


def _show_tick(report: Any, json_output: bool) -> None:
    from honed.cli import render
    from honed.cli.render import loop as show

    render.json_out(report.to_dict()) if json_output else show.tick(report.to_dict())


def loop_tick(path: LoopArg, json_output: JsonOpt = False) -> None:
    """One step: monitor, then start, follow or end a cycle (for cron or a scheduler)."""
    from honed.loop import tick

    with _context(path) as ctx:
        _show_tick(tick(ctx), json_output)


def loop_run(
    path: LoopArg,
    interval: Annotated[str | None, typer.Option(
        "--interval", help="time between ticks (default: the loop file's interval)",
        show_default=False)] = None,
    ticks: Annotated[int | None, typer.Option(
        "--ticks", min=1, help="stop after N ticks", show_default=False)] = None,
    json_output: JsonOpt = False,
) -> None:
    """Tick until stopped (Ctrl-C or SIGTERM end it between ticks; nothing is lost)."""
    from honed.errors import ConfigError
    from honed.loop import tick
    from honed.loop.config import span_s

    stop = threading.Event()
    previous = signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        with _context(path) as ctx:
            try:
                wait = span_s(interval or ctx.config.interval, "--interval")
            except ValueError as exc:
                raise ConfigError(str(exc), field="--interval") from None
            done = 0
            while not stop.is_set() and (ticks is None or done < ticks):
                _show_tick(tick(ctx), json_output)
                done += 1
                if ticks is None or done < ticks:
                    stop.wait(wait)
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)


def loop_status(
    path: LoopArg,
    limit: Annotated[int, typer.Option("--limit", min=1, help="events shown")] = 50,
    json_output: JsonOpt = False,
) -> None:
    """Where the loop stands: its cycles' events, the running experiment, today's spend."""
    from honed.cli import render
    from honed.cli.render import loop as show
    from honed.loop.history import state
    from honed.store.monitor import MonitorStore

    with _context(path) as ctx:
        events = MonitorStore.of(ctx.log_store).events(ctx.config.loop_name)
        current = state(events, time.time())
    data = {"loop": ctx.config.loop_name, "prompt": ctx.config.prompt,
            "state": current.to_dict(), "budget_per_day": ctx.config.budget_per_day.model_dump(),
            "events": events[:limit]}
    render.json_out(data) if json_output else show.status(data)
