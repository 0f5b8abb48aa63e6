"""What the simulation scripts (sequential_sim.py, drift_sim.py) share: rates with Wilson
intervals, the machine they ran on, and where their report goes."""

from __future__ import annotations

import json
import os
import platform
from pathlib import Path
from typing import Any


def wilson(k: int, n: int) -> list[float]:
    from scipy.stats import binomtest

    ci = binomtest(k, n).proportion_ci(0.95, method="wilson")
    return [round(float(ci.low), 5), round(float(ci.high), 5)]


def rate(k: int, n: int) -> dict[str, Any]:
    return {"n": n, "count": k, "rate": round(k / n, 5), "ci95": wilson(k, n)}


def machine() -> dict[str, Any]:
    import numpy as np
    import scipy

    return {"platform": platform.platform(), "processor": platform.machine(),
            "cpus": os.cpu_count(), "python": platform.python_version(),
            "numpy": np.__version__, "scipy": scipy.__version__}


def write_report(report: dict[str, Any], out: Path | None, quick: bool,
                 default: Path) -> Path | None:
    """The report as JSON at ``out`` (default ``default``; a quick run writes nothing unless
    asked); returns where it went."""
    target = out if out is not None else (None if quick else default)
    if target is not None:
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(json.dumps(report, indent=2) + "\n")
    return target
