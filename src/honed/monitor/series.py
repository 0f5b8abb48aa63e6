"""Per-version time series from the production log: requests, errors, latency, cost and
quality per time bucket."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Any

from honed.experiments.metrics import nearest_rank
from honed.monitor.quality import Observation

Row = Mapping[str, Any]


def buckets(rows: Sequence[Row], obs: Sequence[Observation],
            bucket_s: float) -> list[dict[str, Any]]:
    """One point per time bucket that has requests (oldest first): n, errors, error rate,
    latency p50/p95 (s), cost per request (USD), quality mean and its n."""
    by_bucket: dict[int, list[Row]] = defaultdict(list)
    for row in rows:
        by_bucket[int(float(row["created"]) // bucket_s)].append(row)
    quality: dict[int, list[float]] = defaultdict(list)
    for item in obs:
        quality[int(item.created // bucket_s)].append(item.value)
    return [_point(key * bucket_s, by_bucket[key], quality.get(key, []))
            for key in sorted(by_bucket)]


def _point(start: float, rows: Sequence[Row], quality: Sequence[float]) -> dict[str, Any]:
    errors = sum(1 for r in rows if r.get("error") is not None)
    latencies = [float(r["latency_s"]) for r in rows if r.get("latency_s") is not None]
    costs = [float(r.get("cost_usd") or 0.0) for r in rows]
    return {"start": start, "n": len(rows), "errors": errors, "error_rate": errors / len(rows),
            "latency_p50_s": nearest_rank(latencies, 50),
            "latency_p95_s": nearest_rank(latencies, 95),
            "cost_per_request": sum(costs) / len(costs) if costs else None,
            "quality": sum(quality) / len(quality) if quality else None,
            "quality_n": len(quality)}
