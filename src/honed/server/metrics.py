"""Prometheus text exposition of the server's counters, per app (no process-wide registry).

Series, labelled by prompt and version: ``honed_requests_total``, ``honed_errors_total``,
``honed_tokens_total`` (also by ``kind``: input or output), ``honed_cost_usd_total`` and the
``honed_request_latency_seconds`` histogram.
"""

from __future__ import annotations

import threading
from collections import defaultdict
from dataclasses import dataclass, field

BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
Labels = tuple[str, str]  # (prompt, version)


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _labels(key: Labels, **extra: str) -> str:
    pairs = {"prompt": key[0], "version": key[1], **extra}
    return "{" + ",".join(f'{k}="{_escape(v)}"' for k, v in pairs.items()) + "}"


def _num(value: float) -> str:
    return repr(float(value)) if isinstance(value, float) else str(value)


@dataclass
class Metrics:
    """Counters and a latency histogram, safe to update from any thread."""

    requests: dict[Labels, int] = field(default_factory=lambda: defaultdict(int))
    errors: dict[Labels, int] = field(default_factory=lambda: defaultdict(int))
    tokens: dict[tuple[Labels, str], int] = field(default_factory=lambda: defaultdict(int))
    cost: dict[Labels, float] = field(default_factory=lambda: defaultdict(float))
    latency: dict[Labels, list[int]] = field(default_factory=dict)
    latency_sum: dict[Labels, float] = field(default_factory=lambda: defaultdict(float))
    answered: dict[tuple[int, str], int] = field(default_factory=lambda: defaultdict(int))
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def observe(self, prompt: str, version: int | str | None, *, latency_s: float,
                input_tokens: int = 0, output_tokens: int = 0, cost_usd: float = 0.0,
                error: bool = False) -> None:
        key = (prompt, "" if version is None else str(version))
        with self._lock:
            self.requests[key] += 1
            self.errors[key] += int(error)
            self.tokens[(key, "input")] += input_tokens
            self.tokens[(key, "output")] += output_tokens
            self.cost[key] += cost_usd
            counts = self.latency.setdefault(key, [0] * (len(BUCKETS) + 1))
            for i, bound in enumerate((*BUCKETS, float("inf"))):
                if latency_s <= bound:
                    counts[i] += 1
            self.latency_sum[key] += latency_s

    def error_answer(self, status: int, code: str | None) -> None:
        """Count an error answer (401, 403, 404, 422, 429, 502, ...) by status and code."""
        with self._lock:
            self.answered[(status, code or "")] += 1

    def render(self) -> str:
        """The Prometheus text format (version 0.0.4)."""
        with self._lock:
            lines = self._counter("honed_requests_total", "Requests served.", self.requests)
            lines += self._counter("honed_errors_total", "Requests that failed.", self.errors)
            lines += ["# HELP honed_tokens_total Model tokens used.",
                      "# TYPE honed_tokens_total counter"]
            lines += [f"honed_tokens_total{_labels(k, kind=kind)} {v}"
                      for (k, kind), v in sorted(self.tokens.items())]
            lines += self._counter("honed_cost_usd_total", "Model cost in USD.", self.cost)
            lines += self._histogram()
            lines += ["# HELP honed_error_answers_total Error answers by HTTP status and code.",
                      "# TYPE honed_error_answers_total counter"]
            lines += [f'honed_error_answers_total{{status="{status}",code="{_escape(code)}"}} '
                      f"{count}" for (status, code), count in sorted(self.answered.items())]
        return "\n".join(lines) + "\n"

    @staticmethod
    def _counter(name: str, help_text: str, values: dict[Labels, int] | dict[Labels, float],
                 ) -> list[str]:
        return [f"# HELP {name} {help_text}", f"# TYPE {name} counter",
                *(f"{name}{_labels(k)} {_num(v)}" for k, v in sorted(values.items()))]

    def _histogram(self) -> list[str]:
        name = "honed_request_latency_seconds"
        lines = [f"# HELP {name} Request latency.", f"# TYPE {name} histogram"]
        for key, counts in sorted(self.latency.items()):
            for bound, count in zip((*BUCKETS, float("inf")), counts, strict=True):
                le = "+Inf" if bound == float("inf") else repr(bound)
                lines.append(f"{name}_bucket{_labels(key, le=le)} {count}")
            lines.append(f"{name}_sum{_labels(key)} {_num(self.latency_sum[key])}")
            lines.append(f"{name}_count{_labels(key)} {counts[-1]}")
        return lines
