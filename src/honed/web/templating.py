"""The Jinja2 environment of the report and the dashboard: autoescaping everywhere, strict
undefined names, and the number formats both use."""

from __future__ import annotations

import base64
import hashlib
import time
from pathlib import Path
from typing import Any

import jinja2

from honed.web.evidence import p_value
from honed.web.svg import bar

TEMPLATES = Path(__file__).resolve().parent / "templates"
STATIC = Path(__file__).resolve().parent / "static"


def score(value: Any, digits: int = 3) -> str:
    return "-" if value is None else f"{float(value):.{digits}f}"


def ci(value: Any) -> str:
    if not value:
        return ""
    low, high = value
    return f"[{float(low):.3f}, {float(high):.3f}]"


def signed(value: Any) -> str:
    return "-" if value is None else f"{float(value):+.3f}"


def usd(value: Any) -> str:
    if value is None:
        return "-"
    value = float(value)
    return f"${value:.4f}" if value < 10 else f"${value:,.2f}"


def count(value: Any) -> str:
    return "-" if value is None else f"{int(value):,}"


def when(value: Any) -> str:
    if not value:
        return "-"
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(float(value)))


def asof(value: Any) -> str:
    """A time as a clock reading (``HH:MM``), with the date unless it is today."""
    if not value:
        return "-"
    moment = time.localtime(float(value))
    if time.strftime("%Y-%m-%d", moment) == time.strftime("%Y-%m-%d"):
        return time.strftime("%H:%M", moment)
    return time.strftime("%Y-%m-%d %H:%M", moment)


def percent(value: Any, digits: int = 0) -> str:
    return "-" if value is None else f"{100 * float(value):.{digits}f}%"


def seconds(value: Any) -> str:
    if value is None:
        return "-"
    value = float(value)
    if value < 1:
        return f"{value * 1000:.0f} ms"
    if value < 120:
        return f"{value:.1f} s"
    return f"{value / 60:.1f} min"


def share(used: Any, limit: Any) -> float | None:
    """``used`` as a share of ``limit`` (None without a limit)."""
    if used is None or not limit:
        return None
    return min(1.0, float(used) / float(limit))


def environment() -> jinja2.Environment:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(TEMPLATES)), autoescape=True,
                             undefined=jinja2.StrictUndefined, trim_blocks=True,
                             lstrip_blocks=True)
    env.filters.update(score=score, ci=ci, signed=signed, usd=usd, count=count, when=when,
                       seconds=seconds, asof=asof, pvalue=p_value, percent=percent)
    env.globals.update(bar=bar, share=share)
    return env


def asset(name: str) -> str:
    """A file of ``static/`` as text (what a standalone report inlines)."""
    return (STATIC / name).read_text(encoding="utf-8")


def csp_hash(script: str) -> str:
    """The CSP source that allows exactly this inline script and nothing else."""
    digest = hashlib.sha256(script.encode("utf-8")).digest()
    return "'sha256-" + base64.b64encode(digest).decode("ascii") + "'"
