"""What gets logged: flat params, metrics from run summaries, CSV and Markdown artifacts."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Mapping, Sequence
from typing import Any

# what gets logged -----------------------------------------------------------------------------
_SUMMARY_METRICS = ("score", "n", "n_total", "pass_rate", "errors", "skipped",
                    "format_violations", "calls", "cache_hits", "retries", "failed_calls",
                    "input_tokens", "output_tokens", "cost_usd", "wall_s", "latency_p50_s",
                    "latency_p95_s")
_RUN_METRICS = ("calls", "rollouts", "cache_hits", "retries", "input_tokens", "output_tokens",
                "cost_usd", "wall_s", "candidates")


def flatten(data: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            out.update(flatten(value, name + "."))
        else:
            out[name] = value
    return out


def _param_value(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return text[:6000]


def _with_ci(prefix: str, stats: Mapping[str, Any] | None) -> dict[str, Any]:
    if not stats:
        return {}
    lo, hi = stats.get("ci95") or (None, None)
    return {f"{prefix}score": stats.get("score"), f"{prefix}ci95_low": lo,
            f"{prefix}ci95_high": hi, f"{prefix}n": stats.get("n"),
            f"{prefix}errors": stats.get("errors", 0)}


def summary_metrics(data: Mapping[str, Any]) -> dict[str, Any]:
    """An eval summary (``EvalRun.to_dict()``) as flat numeric metrics."""
    out = {k: data.get(k) for k in _SUMMARY_METRICS}
    out.update(_with_ci("", data))
    return {k: v for k, v in out.items() if v is not None}


def optimization_metrics(data: Mapping[str, Any]) -> dict[str, Any]:
    """An ``OptimizationResult.to_dict()`` as flat numeric metrics (``best/test/score``, ...)."""
    out: dict[str, Any] = {k: data.get(k) for k in _RUN_METRICS}
    for who in ("seed", "best"):
        for split in ("val", "test"):
            out.update(_with_ci(f"{who}/{split}/", (data.get(who) or {}).get(split)))
    diff = data.get("test_diff") or {}
    if diff:
        out.update(_with_ci("test_diff/", {**diff, "score": diff.get("diff")}))
        out["test_diff/significant"] = float(bool(diff.get("significant")))
    return {k: v for k, v in out.items() if v is not None}


def results_csv(rows: Sequence[Mapping[str, Any]]) -> str:
    """Per-example results as CSV: one row per example, one column group per eval."""
    flat = []
    for row in rows:
        item = {k: v for k, v in row.items() if k != "evals"}
        for name, ev in (row.get("evals") or {}).items():
            for key in ("score", "passed", "feedback"):
                item[f"{name}.{key}"] = ev.get(key)
        flat.append(item)
    return table_csv(flat)


def table_csv(rows: Sequence[Mapping[str, Any]]) -> str:
    columns: dict[str, None] = {}
    for row in rows:
        columns.update(dict.fromkeys(row))
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(columns), extrasaction="ignore")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: json.dumps(v) if isinstance(v, dict | list) else v
                         for k, v in row.items()})
    return buffer.getvalue()


def prompt_markdown(prompt: Mapping[str, Any]) -> str:
    parts = [f"## system\n\n{prompt.get('system', '')}\n", f"## user\n\n{prompt.get('user', '')}\n"]
    for name, text in (prompt.get("components") or {}).items():
        parts.append(f"## {name}\n\n{text}\n")
    demos = prompt.get("demos") or []
    parts.append("## demos\n\n" + ("".join(f"- {d}\n" for d in demos) or "(none)\n"))
    return "\n".join(parts)
