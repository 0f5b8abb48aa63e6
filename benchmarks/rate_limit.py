"""Calls against a provider that rate-limits: the adaptive limit against a fixed one.

    python benchmarks/rate_limit.py [--calls N] [--out PATH]

A loopback OpenAI-compatible fake answers in 50 ms and allows 4 requests at once; beyond that it
answers 429 with ``Retry-After: 0``, as a provider's concurrency cap does. A ``ModelClient`` at
concurrency 16 with the default retry policy (4 retries) sends ``--calls`` requests, once with
the adaptive limit (``honed.engine.throttle``) and once with it held fixed at 16, side by side
in one process. Reported: calls that failed after their retries, 429s, retries, times the
limit was halved and its lowest value, and wall time (with the ideal: calls / 4 x 50 ms).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from pathlib import Path
from typing import Any

from sim_common import machine, write_report

from honed.engine.budget import Budget, Limits
from honed.engine.client import ModelClient
from honed.engine.retry import RetryPolicy
from honed.engine.throttle import AdaptiveLimit
from honed.providers.base import Request
from honed.providers.fake_server import FakeServer
from honed.providers.openai_compat import OpenAICompatModel
from honed.task.task import ModelConfig
from honed.types import Message

RESULTS = Path(__file__).resolve().parent / "results" / "rate-limit.json"
LATENCY_S, CAP, CONCURRENCY = 0.05, 4, 16


class FixedLimit(AdaptiveLimit):
    """The same slots, never lowered: what a client without adaptation does."""

    def throttled(self, ticket: Any) -> bool:
        return False


async def _send(url: str, calls: int, adaptive: bool) -> dict[str, Any]:
    model = OpenAICompatModel(ModelConfig(spec="openai:fake", base_url=url,
                                          api_key_env="HONED_BENCH_KEY"))
    client = ModelClient(model, Budget(Limits()), retry=RetryPolicy(), concurrency=CONCURRENCY)
    if not adaptive:
        client.limit = FixedLimit(CONCURRENCY)
    started = time.perf_counter()
    try:
        replies = await asyncio.gather(*(client.complete(Request(
            (Message("user", f"q{i}"),), 0.0, 8)) for i in range(calls)),
            return_exceptions=True)
    finally:
        await client.aclose()
    return {"failed": sum(isinstance(r, BaseException) for r in replies),
            "retries": client.stats.retries, "halved": client.stats.throttled,
            "lowest_limit": client.limit.lowest,
            "wall_s": round(time.perf_counter() - started, 3)}


def measure(calls: int, adaptive: bool) -> dict[str, Any]:
    with FakeServer(latency_s=LATENCY_S, max_in_flight=CAP) as server:
        result = asyncio.run(_send(server.url, calls, adaptive))
        return {**result, "rate_limited_429": server.rate_limited,
                "peak_in_flight": server.peak_in_flight}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=400)
    parser.add_argument("--out", type=Path, default=None,
                        help=f"where to write the JSON (default: {RESULTS})")
    args = parser.parse_args(argv)
    os.environ.setdefault("HONED_BENCH_KEY", "local")
    rows = {"adaptive": measure(args.calls, True), "fixed": measure(args.calls, False)}
    ideal = args.calls / CAP * LATENCY_S
    report = {"command": "python benchmarks/rate_limit.py"
                         + (f" --calls {args.calls}" if args.calls != 400 else ""),
              "settings": {"calls": args.calls, "latency_s": LATENCY_S, "provider_cap": CAP,
                           "concurrency": CONCURRENCY, "retries": RetryPolicy().max_retries,
                           "retry_after_s": 0, "ideal_wall_s": ideal},
              "results": rows, "machine": machine()}
    out = write_report(report, args.out, False, RESULTS)
    for name, row in rows.items():
        sys.stdout.write(f"{name}: {row['failed']} of {args.calls} failed, "
                         f"{row['rate_limited_429']} 429s, {row['retries']} retries, "
                         f"halved {row['halved']}x (lowest {row['lowest_limit']}), "
                         f"{row['wall_s']} s (ideal {ideal:.2f} s)\n")
    sys.stdout.write(f"wrote {out}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
