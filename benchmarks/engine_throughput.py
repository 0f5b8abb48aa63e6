"""Engine throughput against a local fake OpenAI-compatible endpoint with fixed latency.

    python benchmarks/engine_throughput.py [--calls 2000] [--concurrency 32] [--latency 0.1]

1. Concurrency: N uncached calls with ``--concurrency`` given on the command line (the task's YAML
   says 4, so a flag that did not reach the connection pool shows), then with the same value in
   the YAML. Target: wall time <= 1.11 x the ideal N*latency/concurrency, and the server's peak of
   requests in flight == concurrency.
2. Cached rerun: the whole ``honed eval`` command over 400 already-cached examples (target: zero
   calls, under 3 s end to end).
The fake server runs in its own process so it does not share the engine's event loop; it reports
its peak in-flight count at ``GET /stats``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from fake_endpoint import start_server

HONED = str(Path(sys.executable).with_name("honed"))


def write_task(folder: Path, n: int, url: str, concurrency: int) -> Path:
    rows = "".join(json.dumps({"text": f"example {i}", "label": f"example {i}"}) + "\n"
                   for i in range(n))
    (folder / "data.jsonl").write_text(rows, encoding="utf-8")
    task = folder / "task.yaml"
    task.write_text(
        "name: throughput\ntracking: none\n"
        f"model:\n  spec: openai:fake\n  base_url: {url}\n  concurrency: {concurrency}\n"
        "prompt:\n  user: '{text}'\n"
        "data:\n  train: data.jsonl\n  val: data.jsonl\n  test: data.jsonl\n"
        "evals:\n  - type: exact_match\n", encoding="utf-8")
    return task


def server_stats(url: str) -> dict:
    import urllib.request

    with urllib.request.urlopen(url.removesuffix("/v1") + "/stats", timeout=5) as response:
        return json.loads(response.read())


def honed_eval(task: Path, home: Path, *extra: str) -> tuple[dict, float]:
    env = {**os.environ, "HONED_HOME": str(home)}
    started = time.perf_counter()
    out = subprocess.run([HONED, "eval", str(task), "--json", *extra], env=env,
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout), time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--latency", type=float, default=0.1)
    parser.add_argument("--cached", type=int, default=400)
    args = parser.parse_args()
    runs, cached = [], {}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for how in ("flag", "yaml"):
            server, url = start_server(args.latency)
            try:
                yaml_value = 4 if how == "flag" else args.concurrency
                task = write_task(folder, args.calls, url, yaml_value)
                extra = ["--concurrency", str(args.concurrency)] if how == "flag" else []
                data, _ = honed_eval(task, folder / f"home-{how}", "--no-cache", *extra)
                runs.append(_throughput(how, data, server_stats(url), args))
                if how == "yaml":
                    cached = _cached_rerun(folder, url, args)
            finally:
                server.kill()
    result = {"machine": f"{platform.machine()}, {os.cpu_count()} cores, Python "
                         f"{platform.python_version()}",
              "latency_s": args.latency, "runs": runs, **cached}
    print(json.dumps(result, indent=2))
    ok = all(r["wall_over_ideal"] <= 1.11 and r["peak_in_flight"] == args.concurrency
             for r in runs) and cached["cached_calls"] == 0 and cached["cached_command_s"] < 3.0
    print("PASS" if ok else "FAIL: below target")


def _throughput(how: str, data: dict, stats: dict, args: argparse.Namespace) -> dict:
    ideal = args.calls * args.latency / args.concurrency
    return {"concurrency_from": how, "calls": data["calls"], "errors": data["errors"],
            "concurrency": args.concurrency, "engine_wall_s": round(data["wall_s"], 3),
            "ideal_s": round(ideal, 3), "wall_over_ideal": round(data["wall_s"] / ideal, 3),
            "peak_in_flight": stats["peak_in_flight"]}


def _cached_rerun(folder: Path, url: str, args: argparse.Namespace) -> dict:
    cached_task = write_task(folder, args.cached, url, args.concurrency)
    honed_eval(cached_task, folder / "h2")
    again, command_s = honed_eval(cached_task, folder / "h2")
    return {"cached_examples": args.cached, "cached_calls": again["calls"],
            "cached_command_s": round(command_s, 3)}


if __name__ == "__main__":
    main()
