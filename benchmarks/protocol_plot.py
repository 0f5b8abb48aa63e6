"""The search curve: best-so-far test score against calls, per task, every optimizer (SVG)."""

from __future__ import annotations

import statistics
from pathlib import Path
from typing import Any

GRID = 50  # points on the calls axis


def mean_curve(curves: list[list[list[float]]], top: float) -> tuple[list[float], list[float]]:
    """The seeds' step curves (best-so-far test score at each rollout count) averaged on a
    common grid; a seed's curve holds its last value to the end."""
    xs = [top * i / (GRID - 1) for i in range(GRID)]

    def at(curve: list[list[float]], x: float) -> float:
        value = curve[0][1]
        for rollouts, score in curve:
            if rollouts <= x:
                value = score
        return value

    return xs, [statistics.fmean(at(c, x) for c in curves) for x in xs]


def plot_curves(cells: dict[tuple[str, str, int], dict[str, Any]], tasks: list[str],
                variants: list[str], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    matplotlib.rcParams["svg.hashsalt"] = "protocol-v2"  # the same SVG for the same data
    fig, axes = plt.subplots(1, max(1, len(tasks)), figsize=(4 * max(1, len(tasks)), 3.4),
                             squeeze=False)
    for ax, task in zip(axes[0], tasks, strict=False):
        top = max((c["curve"][-1][0] for k, c in cells.items() if k[0] == task), default=1)
        for variant in variants:
            curves = [c["curve"] for k, c in sorted(cells.items())
                      if k[0] == task and k[1] == variant and c["curve"]]
            if curves:
                xs, ys = mean_curve(curves, top)
                ax.step(xs, ys, where="post", label=variant, linewidth=1.4)
        ax.set_title(task, fontsize=9)
        ax.set_xlabel("calls (rollouts)", fontsize=8)
        ax.tick_params(labelsize=7)
    axes[0][0].set_ylabel("best-so-far test score (mean over seeds)", fontsize=8)
    axes[0][0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, format="svg", metadata={"Date": None})
    plt.close(fig)
