"""Plots as inline SVG: no JavaScript, no fonts or images to load. Every text that reaches the
markup is escaped; numbers are formatted here."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from markupsafe import Markup, escape

PALETTE = ("#2563eb", "#dc2626", "#16a34a", "#9333ea", "#ea580c", "#0891b2", "#4d7c0f",
           "#db2777", "#64748b", "#ca8a04")
_PAD = (52, 16, 18, 40)  # left, right, top, bottom


@dataclass(frozen=True)
class Series:
    """One line or set of points. ``style``: dots, line, step (a staircase) or dotline."""

    name: str
    points: Sequence[tuple[float, float]]
    style: str = "line"
    color: str | None = None
    tips: Sequence[str] = field(default_factory=tuple)  # one tooltip per point (optional)
    highlight: Sequence[bool] = field(default_factory=tuple)  # points drawn larger


@dataclass(frozen=True)
class Band:
    """A shaded area between a low and a high line: ``points`` are ``(x, low, high)``."""

    name: str
    points: Sequence[tuple[float, float, float]]
    color: str = PALETTE[0]


def nice_ticks(low: float, high: float, count: int = 5) -> list[float]:
    """Round tick values covering [low, high]."""
    if not math.isfinite(low) or not math.isfinite(high):
        return [0.0]
    if high <= low:
        high = low + (abs(low) or 1.0)
    raw = (high - low) / max(1, count)
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    first = math.floor(low / step) * step
    ticks, value = [first], first
    while value < high - step * 1e-9:
        value += step
        ticks.append(round(value, 10))
    return ticks


_TIME_STEPS = (60, 300, 900, 1800, 3600, 3 * 3600, 6 * 3600, 12 * 3600, 86400, 2 * 86400,
               7 * 86400, 30 * 86400)


def time_ticks(low: float, high: float, count: int = 5) -> list[float]:
    """Tick times on whole minutes, hours or days covering [low, high]."""
    if high <= low:
        high = low + 60
    step = next((s for s in _TIME_STEPS if (high - low) / s <= count), _TIME_STEPS[-1])
    first = math.floor(low / step) * step
    ticks = [float(first)]
    while ticks[-1] < high:
        ticks.append(ticks[-1] + step)
    return ticks


def number(value: float) -> str:
    """A tick label: short, no trailing zeros."""
    if value == 0:
        return "0"
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    if abs(value) >= 1:
        return f"{value:.4g}"
    return f"{value:.3g}"


def clock(value: float) -> str:
    """A time tick label (local time)."""
    return time.strftime("%m-%d %H:%M", time.localtime(value))


class _Frame:
    """Data coordinates to pixels."""

    def __init__(self, xs: Sequence[float], ys: Sequence[float], width: int, height: int,
                 y_range: tuple[float, float] | None,
                 x_ticks: Callable[[float, float], list[float]] = nice_ticks) -> None:
        self.width, self.height = width, height
        self.xticks = x_ticks(min(xs, default=0.0), max(xs, default=1.0))
        self.yticks = (nice_ticks(*y_range) if y_range else
                       nice_ticks(min(0.0, min(ys, default=0.0)), max(ys, default=1.0)))
        self.x0, self.x1 = self.xticks[0], self.xticks[-1]
        self.y0, self.y1 = self.yticks[0], self.yticks[-1]

    def x(self, value: float) -> float:
        left, right = _PAD[0], self.width - _PAD[1]
        span = (self.x1 - self.x0) or 1.0
        return left + (value - self.x0) / span * (right - left)

    def y(self, value: float) -> float:
        top, bottom = _PAD[2], self.height - _PAD[3]
        span = (self.y1 - self.y0) or 1.0
        return bottom - (value - self.y0) / span * (bottom - top)


def _axes(frame: _Frame, x_label: str, y_label: str,
          x_format: Callable[[float], str]) -> list[str]:
    out = []
    bottom, left = frame.height - _PAD[3], _PAD[0]
    for tick in frame.yticks:
        y = frame.y(tick)
        out.append(f'<line class="grid" x1="{left}" y1="{y:.1f}" x2="{frame.width - _PAD[1]}" '
                   f'y2="{y:.1f}"/><text class="tick" x="{left - 6}" y="{y + 4:.1f}" '
                   f'text-anchor="end">{escape(number(tick))}</text>')
    for tick in frame.xticks:
        x = frame.x(tick)
        out.append(f'<line class="axis" x1="{x:.1f}" y1="{bottom}" x2="{x:.1f}" '
                   f'y2="{bottom + 4}"/><text class="tick" x="{x:.1f}" y="{bottom + 16}" '
                   f'text-anchor="middle">{escape(x_format(tick))}</text>')
    out.append(f'<line class="axis" x1="{left}" y1="{bottom}" x2="{frame.width - _PAD[1]}" '
               f'y2="{bottom}"/>')
    out.append(f'<text class="label" x="{(left + frame.width - _PAD[1]) / 2:.1f}" '
               f'y="{frame.height - 4}" text-anchor="middle">{escape(x_label)}</text>')
    out.append(f'<text class="label" transform="rotate(-90)" x="{-(frame.height / 2):.1f}" '
               f'y="12" text-anchor="middle">{escape(y_label)}</text>')
    return out


def _path(frame: _Frame, points: Sequence[tuple[float, float]], step: bool) -> str:
    parts = []
    for i, (x, y) in enumerate(points):
        px, py = frame.x(x), frame.y(y)
        if i == 0:
            parts.append(f"M{px:.1f},{py:.1f}")
        elif step:
            parts.append(f"H{px:.1f}V{py:.1f}")
        else:
            parts.append(f"L{px:.1f},{py:.1f}")
    return " ".join(parts)


def _series(frame: _Frame, s: Series, color: str) -> list[str]:
    out = []
    if s.style in ("line", "step", "dotline") and len(s.points) > 1:
        out.append(f'<path class="series" d="{_path(frame, s.points, s.style == "step")}" '
                   f'stroke="{color}" fill="none"/>')
    if s.style in ("dots", "dotline") or len(s.points) == 1:
        for i, (x, y) in enumerate(s.points):
            big = i < len(s.highlight) and s.highlight[i]
            tip = s.tips[i] if i < len(s.tips) else f"{s.name}: {number(x)}, {number(y)}"
            out.append(f'<circle cx="{frame.x(x):.1f}" cy="{frame.y(y):.1f}" '
                       f'r="{5 if big else 3}" fill="{color}" '
                       f'class="{"dot big" if big else "dot"}"><title>{escape(tip)}</title>'
                       "</circle>")
    return out


def _legend(series: Sequence[Series], colors: Sequence[str], width: int) -> list[str]:
    out, x = [], _PAD[0]
    for s, color in zip(series, colors, strict=True):
        out.append(f'<rect x="{x}" y="2" width="10" height="10" fill="{color}"/>'
                   f'<text class="legend" x="{x + 14}" y="11">{escape(s.name)}</text>')
        x += 24 + 7 * len(s.name)
        if x > width - 60:
            break
    return out


def _band(frame: _Frame, band: Band) -> str:
    upper = [f"{frame.x(x):.1f},{frame.y(high):.1f}" for x, _, high in band.points]
    lower = [f"{frame.x(x):.1f},{frame.y(low):.1f}" for x, low, _ in reversed(band.points)]
    return (f'<polygon class="band" points="{" ".join(upper + lower)}" fill="{band.color}" '
            f'fill-opacity="0.18" stroke="none"><title>{escape(band.name)}</title></polygon>')


def _rule(frame: _Frame, value: float) -> str:
    y = frame.y(value)
    return (f'<line class="rule" x1="{_PAD[0]}" y1="{y:.1f}" x2="{frame.width - _PAD[1]}" '
            f'y2="{y:.1f}" stroke="#111827" stroke-dasharray="4 3"/>')


def chart(series: Sequence[Series], *, x_label: str, y_label: str, width: int = 720,
          height: int = 260, y_range: tuple[float, float] | None = None,
          x_format: Callable[[float], str] = number,
          x_ticks: Callable[[float, float], list[float]] = nice_ticks,
          title: str = "", bands: Sequence[Band] = (), rule: float | None = None) -> Markup:
    """A line, step and dot chart of ``series`` on shared axes, with a legend; ``bands``
    shaded under the lines, ``rule`` a dashed horizontal line at that value."""
    xs = [x for s in series for x, _ in s.points] + [p[0] for b in bands for p in b.points]
    ys = ([y for s in series for _, y in s.points] + [v for b in bands for p in b.points
                                                      for v in p[1:]]
          + ([] if rule is None else [rule]))
    frame = _Frame(xs, ys, width, height + _PAD[2], y_range, x_ticks)
    colors = [s.color or PALETTE[i % len(PALETTE)] for i, s in enumerate(series)]
    body = _axes(frame, x_label, y_label, x_format)
    body += [_band(frame, b) for b in bands if b.points]
    if rule is not None:
        body.append(_rule(frame, rule))
    for s, color in zip(series, colors, strict=True):
        body += _series(frame, s, color)
    legend = [*series, *(Series(b.name, ()) for b in bands)]
    body += _legend(legend, [*colors, *(b.color for b in bands)], width)
    label = escape(title or f"{y_label} against {x_label}")
    return Markup(f'<svg class="chart" viewBox="0 0 {width} {frame.height}" role="img" '
                  f'aria-label="{label}">'
                  + "".join(body) + "</svg>")


def bar(value: float | None, *, width: int = 90, height: int = 10,
        color: str = PALETTE[0]) -> Markup:
    """A small horizontal bar for a value in [0, 1] (empty when None)."""
    filled = 0.0 if value is None else max(0.0, min(1.0, float(value))) * width
    tip = "-" if value is None else f"{value:.3f}"
    return Markup(f'<svg class="bar" width="{width}" height="{height}" '
                  f'viewBox="0 0 {width} {height}">'
                  f'<rect width="{width}" height="{height}" class="bar-bg"/>'
                  f'<rect width="{filled:.1f}" height="{height}" fill="{color}"/>'
                  f"<title>{escape(tip)}</title></svg>")
