"""Production at a glance, per prompt version and over time: traffic, errors, latency, cost
and the quality users reported (feedback), from the production log. The database sums counts,
costs and tokens per time bucket; latencies are ranked and feedback averaged here."""

from __future__ import annotations

import math
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from honed.store.log import LogStore
from honed.store.production import (
    FeedbackPoint,
    RequestBucket,
    feedback_points,
    first_request,
    latencies,
    latest_feedback,
    prompt_names,
    request_buckets,
)

RANGES = {"1h": 3600.0, "24h": 86400.0, "7d": 7 * 86400.0, "30d": 30 * 86400.0, "all": None}
BUCKETS = (60, 300, 900, 3600, 3 * 3600, 6 * 3600, 12 * 3600, 86400, 7 * 86400, 30 * 86400)

Key = tuple[str, int, int]  # prompt, version, bucket index (-1: the whole range)


@dataclass(frozen=True)
class Stats:
    """One prompt version over a span (the whole range, or one bucket of it)."""

    prompt: str
    version: int
    start: float
    requests: int
    errors: int
    latency_p50_s: float | None
    latency_p95_s: float | None
    cost_usd: float
    input_tokens: int
    output_tokens: int
    feedback: int
    quality: float | None  # mean feedback value in [0, 1]

    @property
    def label(self) -> str:
        return f"{self.prompt}/{self.version}"

    @property
    def error_rate(self) -> float:
        return self.errors / self.requests if self.requests else 0.0

    @property
    def cost_per_request(self) -> float:
        return self.cost_usd / self.requests if self.requests else 0.0


@dataclass(frozen=True)
class Production:
    range: str
    since: float | None
    until: float
    bucket_s: int
    prompts: tuple[str, ...]
    versions: tuple[Stats, ...]  # per version, over the range
    buckets: tuple[Stats, ...]  # per version and bucket
    feedback: tuple[dict[str, Any], ...]  # the newest feedback with its request


def feedback_value(point: FeedbackPoint) -> float | None:
    """A feedback row as a value in [0, 1]: its score, else 1 when its label is the output
    (case and surrounding space aside) and 0 when not; None for a comment alone."""
    if point.score is not None:
        return max(0.0, min(1.0, float(point.score)))
    if point.label is not None:
        return float(point.label.strip().lower() == (point.output or "").strip().lower())
    return None


def nearest_rank(ordered: Sequence[float], q: float) -> float:
    """The ``q`` percentile (0-100) of sorted values, by nearest rank."""
    return ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)]


def bucket_size(span: float, points: int = 48) -> int:
    """The smallest bucket that splits ``span`` seconds into at most ``points`` buckets."""
    return next((b for b in BUCKETS if span / b <= points), BUCKETS[-1])


class _Totals:
    """What is known of one key: summed requests, latencies, feedback values."""

    def __init__(self) -> None:
        self.requests = self.errors = self.tokens_in = self.tokens_out = self.feedback = 0
        self.cost = 0.0
        self.latencies: list[float] = []
        self.values: list[float] = []

    def add(self, row: RequestBucket) -> None:
        self.requests += row.requests
        self.errors += row.errors
        self.cost += row.cost_usd
        self.tokens_in += row.input_tokens
        self.tokens_out += row.output_tokens

    def stats(self, prompt: str, version: int, start: float) -> Stats:
        ordered = sorted(self.latencies)
        return Stats(prompt, version, start, self.requests, self.errors,
                     nearest_rank(ordered, 50) if ordered else None,
                     nearest_rank(ordered, 95) if ordered else None, self.cost,
                     self.tokens_in, self.tokens_out, self.feedback,
                     sum(self.values) / len(self.values) if self.values else None)


def _totals(buckets: Sequence[RequestBucket], lat: Sequence[tuple[str, int, int, float]],
            feedback: Sequence[FeedbackPoint], origin: float,
            size: float) -> dict[Key, _Totals]:
    """Totals per (prompt, version, bucket) and per (prompt, version, -1) for the range."""
    totals: dict[Key, _Totals] = defaultdict(_Totals)
    for row in buckets:
        totals[(row.prompt, row.version, row.bucket)].add(row)
        totals[(row.prompt, row.version, -1)].add(row)
    for prompt, version, bucket, latency in lat:
        totals[(prompt, version, bucket)].latencies.append(latency)
        totals[(prompt, version, -1)].latencies.append(latency)
    for point in feedback:
        value = feedback_value(point)
        bucket = int((point.created - origin) // size)
        for key in ((point.prompt, point.version, bucket), (point.prompt, point.version, -1)):
            totals[key].feedback += 1
            if value is not None:
                totals[key].values.append(value)
    return totals


def production_report(store: LogStore, *, range_name: str = "all", prompt: str | None = None,
                      now: float | None = None, feedback_rows: int = 50) -> Production:
    """Traffic, errors, latency, cost and feedback per prompt version over ``range_name``
    (1h, 24h, 7d, 30d or all), overall and per time bucket."""
    now = time.time() if now is None else now
    range_name = range_name if range_name in RANGES else "all"
    window = RANGES[range_name]
    since = None if window is None else now - window
    first = since if since is not None else first_request(store, prompt=prompt)
    start = now if first is None else first
    size = bucket_size(max(1.0, now - start))
    origin = math.floor(start / size) * size
    totals = _totals(
        request_buckets(store, origin=origin, size=size, since=since, prompt=prompt),
        latencies(store, origin=origin, size=size, since=since, prompt=prompt),
        feedback_points(store, since=start, prompt=prompt), origin, size)
    versions = sorted((t.stats(k[0], k[1], start) for k, t in totals.items() if k[2] < 0),
                      key=lambda s: s.label)
    buckets = sorted((t.stats(k[0], k[1], origin + k[2] * size)
                      for k, t in totals.items() if k[2] >= 0),
                     key=lambda s: (s.start, s.label))
    return Production(range_name, since, now, size, tuple(prompt_names(store)),
                      tuple(versions), tuple(buckets),
                      tuple(latest_feedback(store, limit=feedback_rows, prompt=prompt)))
