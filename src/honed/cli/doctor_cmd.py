"""``honed doctor``: can this host run honed? One verdict per line; exit 1 if any check failed."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from honed.cli.options import JsonOpt

NoSmokeOpt = Annotated[bool, typer.Option("--no-smoke", help="skip the smoke run on the "
                                          "embedded model")]
MARKS = {"ok": "ok  ", "warn": "WARN", "fail": "FAIL"}
COLORS = {"ok": "green", "warn": "yellow", "fail": "red"}


def doctor_command(no_smoke: NoSmokeOpt = False, json_output: JsonOpt = False) -> None:
    """Check Python, packages, the embedded model, CPU features, tracking and the cache, then
    decode a few tokens on the embedded model in a separate process."""
    from honed.cli import render
    from honed.doctor import run_checks
    from honed.engine.session import honed_home

    checks = run_checks(honed_home(), smoke=not no_smoke)
    failed = any(c.status == "fail" for c in checks)
    if json_output:
        render.json_out({"ok": not failed, "checks": [c.to_dict() for c in checks]})
    else:
        width = max(len(c.name) for c in checks)
        for check in checks:
            render.line(_line(check, width))
    if failed:
        raise typer.Exit(1)


def _line(check: Any, width: int) -> str:
    """``ok    name  detail  (fix: ...)``; the colour is dropped when stdout is not a terminal."""
    mark = typer.style(MARKS[check.status], fg=COLORS[check.status], bold=check.status != "ok")
    fix = f"  (fix: {check.fix})" if check.fix else ""
    return f"{mark}  {check.name:<{width}}  {check.detail}{fix}"
