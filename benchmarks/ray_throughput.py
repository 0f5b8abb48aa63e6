"""Throughput of the ray executor: actors x concurrency against a fake endpoint with fixed latency.

    python benchmarks/ray_throughput.py [--calls 3200] [--actors 2] [--concurrency 16]
                                        [--latency 0.05] [--repeats 3] [--address ADDRESS]

An ``honed eval`` of ``--calls`` uncached examples with ``--executor ray?actors=N`` and
``--concurrency C`` (per actor) against ``honed.providers.fake_server`` (an OpenAI-compatible
fake answering after ``--latency`` seconds, in a process of its own so it does not share the
driver's interpreter). The ideal rate is ``actors x concurrency / latency`` calls a second; the
target is at least 0.8 of it, with the endpoint's peak of requests in flight equal to
``actors x concurrency``. For scale, the same evaluation with the local executor at
``actors x concurrency`` calls in flight. Ray is started with ``ray.init(num_cpus=actors)``
unless ``--address`` names a running cluster; its start-up time is reported apart.

Writes benchmarks/results/ray-throughput.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

from fake_endpoint import start_server

RESULTS = Path(__file__).resolve().parent / "results"


def server_stats(url: str) -> dict[str, Any]:
    with urllib.request.urlopen(url.removesuffix("/v1") + "/stats", timeout=5) as response:
        return dict(json.loads(response.read()))


def throughput_task(url: str, calls: int, concurrency: int) -> Any:
    import honed

    rows = [{"text": f"example {i}", "label": f"example {i}"} for i in range(calls)]
    return honed.Task(name="throughput", tracking="none",
                      model={"spec": "openai:fake", "base_url": url,
                             "concurrency": concurrency},
                      prompt={"user": "{text}"},
                      data={"train": rows[:4], "val": rows[:4], "test": rows},
                      evals=[{"type": "exact_match", "expected": "{label}"}])


def measure(url: str, *, calls: int, actors: int, concurrency: int, latency: float,
            executor: str = "ray", home: Path | None = None) -> dict[str, Any]:
    """One uncached evaluation of ``calls`` examples; its rate against the ideal. With
    ``executor="local"`` the local executor keeps ``actors x concurrency`` calls in flight."""
    from honed.engine.evaluate import evaluate_task
    from honed.engine.session import EngineOptions

    slots = actors * concurrency
    remote = executor != "local"
    task = throughput_task(url, calls, concurrency if remote else slots)
    spec = f"{executor}?actors={actors}" if remote else "local"
    with tempfile.TemporaryDirectory() as tmp:
        options = EngineOptions(cache=False, executor=spec, home=home or Path(tmp))
        started = time.perf_counter()
        run = asyncio.run(evaluate_task(task, split="test", options=options))
        total = time.perf_counter() - started
    data = run.to_dict()
    ideal_rate = slots / latency
    rate = data["calls"] / data["wall_s"]
    return {"executor": spec, "calls": data["calls"], "errors": data["errors"],
            "score": data["score"], "wall_s": round(data["wall_s"], 3),
            "setup_s": round(total - data["wall_s"], 3),
            "rate_per_s": round(rate, 1), "ideal_rate_per_s": round(ideal_rate, 1),
            "ratio": round(rate / ideal_rate, 3)}


def start_ray(address: str | None, cpus: int) -> tuple[Any, float]:
    import ray

    started = time.perf_counter()
    if address:
        ray.init(address=address, log_to_driver=False)
    else:
        ray.init(num_cpus=cpus, include_dashboard=False, log_to_driver=False)
    return ray, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=3200)
    parser.add_argument("--actors", type=int, default=2)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--latency", type=float, default=0.05)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--address", default=None)
    parser.add_argument("--out", type=Path, default=RESULTS / "ray-throughput.json")
    args = parser.parse_args()
    ray, init_s = start_ray(args.address, args.actors)
    server, url = start_server(args.latency)
    try:
        common = dict(calls=args.calls, actors=args.actors, concurrency=args.concurrency,
                      latency=args.latency)
        runs = [measure(url, **common) for _ in range(args.repeats)]
        peak = server_stats(url)["peak_in_flight"]
        local = measure(url, **common, executor="local")
    finally:
        server.kill()
        ray.shutdown()
    ratios = [r["ratio"] for r in runs]
    result = {
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python "
                   f"{platform.python_version()}, Ray {ray.__version__}, load average "
                   f"{os.getloadavg()[0]:.1f} at the end",
        "command": " ".join(["nice -n 10 python benchmarks/ray_throughput.py", *sys.argv[1:]]),
        "latency_s": args.latency, "actors": args.actors, "concurrency_per_actor":
            args.concurrency, "ray_init_s": round(init_s, 1), "runs": runs,
        "peak_in_flight": peak, "median_ratio": statistics.median(ratios),
        "local_same_in_flight": local, "target_ratio": 0.8,
    }
    ok = result["median_ratio"] >= 0.8 and peak == args.actors * args.concurrency
    result["verdict"] = "PASS" if ok else "FAIL: below target"
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
