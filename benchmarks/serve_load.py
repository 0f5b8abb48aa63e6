"""``honed serve`` under an open-loop load: what it adds on top of the model's own latency.

    python benchmarks/serve_load.py [--rps 100] [--seconds 60] [--latency 0.05]

Three processes on loopback:

- a fake OpenAI-compatible endpoint (``python -m honed.providers.fake_server``) that answers
  every chat completion after ``--latency`` seconds;
- ``honed serve --rate 0`` over a fresh ``HONED_HOME``, with a registered prompt whose model is
  ``openai:fake`` (``OPENAI_BASE_URL`` points at the fake endpoint);
- this script, an asyncio + httpx load generator: request ``i`` is sent at ``start + i / rps``
  whether or not earlier ones have been answered (open loop), and one answered request in ten
  gets a feedback post.

Every prompt input is distinct, so honed's response cache never answers for the model.

Reported: requests sent, errors, total latency percentiles (send to answer), honed's overhead
(total minus the nominal endpoint latency, and total minus the model call as honed timed it,
``latency_s`` in the answer), achieved rate, and a check that every acknowledged request and
every acknowledged feedback is in the store once the server has stopped. Results go to
``benchmarks/results/serve-load.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from honed.lifecycle.registries import open_registry
from honed.lifecycle.registry import MODEL_TAG
from honed.store import open_store
from honed.types import Candidate

HONED = str(Path(sys.executable).with_name("honed"))
RESULTS = Path(__file__).resolve().parent / "results" / "serve-load.json"
PROMPT = "bench@production"
OVERHEAD_TARGET_MS = 20.0


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def pct(values: list[float], q: float) -> float | None:
    """The ``q`` quantile (0..1) by nearest rank, or None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def ms(value: float | None) -> float | None:
    return None if value is None else round(value * 1000, 2)


def start_endpoint(latency_s: float) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen([sys.executable, "-m", "honed.providers.fake_server", "--port", "0",
                             "--latency", str(latency_s)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    url = proc.stdout.readline().strip()
    if not url.startswith("http"):
        proc.kill()
        raise SystemExit(f"the fake endpoint did not start (got {url!r})")
    return proc, url


def prepare_home(home: Path) -> dict[str, str]:
    """Register the prompt and create a serve key and a feedback key."""
    registry = open_registry(home, backend="local")
    version = registry.register("bench", Candidate({"system": "Answer briefly.",
                                                    "user": "Question: {q}"}),
                                tags={MODEL_TAG: "openai:fake"})
    registry.set_alias("bench", "production", version.version)
    store = open_store(home=home)
    try:
        return {scope: store.create_key(scope, f"bench-{scope}")[1]
                for scope in ("serve", "feedback")}
    finally:
        store.close()


def start_server(home: Path, port: int, endpoint: str, log: Path) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if k not in ("HONED_DB", "HONED_REGISTRY")}
    env.update(HONED_HOME=str(home), OPENAI_BASE_URL=endpoint, OPENAI_API_KEY="sk-bench")
    with log.open("wb") as out:
        proc = subprocess.Popen([HONED, "serve", "--port", str(port), "--rate", "0"], env=env,
                                stdout=out, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"honed serve exited ({proc.returncode}):\n{log.read_text()}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    proc.kill()
    raise SystemExit("honed serve did not answer /healthz within 60 s")


async def drive(base: str, keys: dict[str, str], rps: float, seconds: float) -> dict[str, Any]:
    total = int(rps * seconds)
    interval = 1.0 / rps
    results: list[dict[str, Any]] = []
    feedback: list[dict[str, Any]] = []
    limits = httpx.Limits(max_connections=None, max_keepalive_connections=200)
    serve_auth = {"Authorization": f"Bearer {keys['serve']}"}
    feedback_auth = {"Authorization": f"Bearer {keys['feedback']}"}
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=30.0) as http:

        async def one(i: int, scheduled: float) -> None:
            sent = time.perf_counter()
            item: dict[str, Any] = {"i": i, "lag_s": sent - scheduled}
            try:
                resp = await http.post("/v1/complete", headers=serve_auth, json={
                    "prompt": PROMPT, "inputs": {"q": f"load question {i}"}})
                item["total_s"] = time.perf_counter() - sent
                item["status"] = resp.status_code
                if resp.status_code == 200:
                    body = resp.json()
                    item["id"], item["model_s"] = body["id"], float(body["latency_s"])
            except httpx.HTTPError as exc:
                item.update(total_s=time.perf_counter() - sent, status=None,
                            error=f"{type(exc).__name__}: {exc}")
            results.append(item)
            if item.get("id") and i % 10 == 0:
                fb_sent = time.perf_counter()
                try:
                    fb = await http.post("/v1/feedback", headers=feedback_auth, json={
                        "request_id": item["id"], "score": 1.0, "label": f"ok-{i}"})
                    feedback.append({"request_id": item["id"], "status": fb.status_code,
                                     "id": fb.json().get("id") if fb.status_code == 200
                                     else None, "total_s": time.perf_counter() - fb_sent})
                except httpx.HTTPError as exc:
                    feedback.append({"request_id": item["id"], "status": None,
                                     "error": f"{type(exc).__name__}: {exc}"})

        tasks: list[asyncio.Task[None]] = []
        start = time.perf_counter()
        for i in range(total):
            scheduled = start + i * interval
            delay = scheduled - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(i, scheduled)))
        send_window = time.perf_counter() - start
        await asyncio.gather(*tasks)
        elapsed = time.perf_counter() - start
    return {"results": results, "feedback": feedback, "send_window_s": send_window,
            "elapsed_s": elapsed, "planned": total}


def verify(home: Path, results: list[dict[str, Any]],
           feedback: list[dict[str, Any]]) -> dict[str, Any]:
    store = open_store(home=home)
    try:
        rows = store.requests()
    finally:
        store.close()
    logged = {row["id"] for row in rows}
    fb_logged = {int(fb["id"]) for row in rows for fb in row["feedback"]}
    acked = [r["id"] for r in results if r.get("id")]
    fb_acked = [int(f["id"]) for f in feedback if f.get("id") is not None]
    missing = sorted(set(acked) - logged)
    fb_missing = sorted(set(fb_acked) - fb_logged)
    return {"rows_in_store": len(rows), "acknowledged": len(acked),
            "acknowledged_missing": len(missing), "missing_ids": missing[:20],
            "feedback_rows_in_store": len(fb_logged), "feedback_acknowledged": len(fb_acked),
            "feedback_missing": len(fb_missing), "all_present": not missing and not fb_missing}


def summarise(run: dict[str, Any], latency_s: float) -> dict[str, Any]:
    results = run["results"]
    ok = [r for r in results if r.get("status") == 200]
    totals = [r["total_s"] for r in ok]
    over_nominal = [r["total_s"] - latency_s for r in ok]
    over_model = [r["total_s"] - r["model_s"] for r in ok]
    errors: dict[str, int] = {}
    for r in results:
        if r.get("status") != 200:
            key = str(r.get("status") or r.get("error", "?").split(":")[0])
            errors[key] = errors.get(key, 0) + 1
    fb = run["feedback"]
    fb_ok = [f for f in fb if f.get("status") == 200]
    return {
        "requests_planned": run["planned"], "requests_sent": len(results),
        "ok": len(ok), "errors": sum(errors.values()), "errors_by_kind": errors,
        "latency_ms": {"p50": ms(pct(totals, 0.5)), "p95": ms(pct(totals, 0.95)),
                       "p99": ms(pct(totals, 0.99)), "max": ms(max(totals, default=None))},
        "overhead_vs_nominal_ms": {"p50": ms(pct(over_nominal, 0.5)),
                                   "p95": ms(pct(over_nominal, 0.95)),
                                   "p99": ms(pct(over_nominal, 0.99))},
        "overhead_vs_model_call_ms": {"p50": ms(pct(over_model, 0.5)),
                                      "p95": ms(pct(over_model, 0.95)),
                                      "p99": ms(pct(over_model, 0.99))},
        "model_call_ms": {"p50": ms(pct([r["model_s"] for r in ok], 0.5)),
                          "p95": ms(pct([r["model_s"] for r in ok], 0.95))},
        "send_lag_ms": {"p50": ms(pct([r["lag_s"] for r in results], 0.5)),
                        "p99": ms(pct([r["lag_s"] for r in results], 0.99)),
                        "max": ms(max((r["lag_s"] for r in results), default=None))},
        "feedback": {"sent": len(fb), "ok": len(fb_ok), "errors": len(fb) - len(fb_ok),
                     "p50_ms": ms(pct([f["total_s"] for f in fb_ok], 0.5)),
                     "p95_ms": ms(pct([f["total_s"] for f in fb_ok], 0.95))},
        "achieved_rps": round(len(results) / run["send_window_s"], 2),
        "completed_rps": round(len(ok) / run["elapsed_s"], 2),
        "send_window_s": round(run["send_window_s"], 3), "elapsed_s": round(run["elapsed_s"], 3),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rps", type=float, default=100.0)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--latency", type=float, default=0.05, help="endpoint seconds/request")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)

    machine = {"platform": platform.platform(), "python": platform.python_version(),
               "cores": os.cpu_count()}
    with tempfile.TemporaryDirectory(prefix="honed-serve-load-") as tmp:
        home = Path(tmp) / "home"
        endpoint, url = start_endpoint(args.latency)
        server = None
        try:
            keys = prepare_home(home)
            port = free_port()
            server = start_server(home, port, url, Path(tmp) / "serve.log")
            run = asyncio.run(drive(f"http://127.0.0.1:{port}", keys, args.rps, args.seconds))
            endpoint_stats = httpx.get(url.removesuffix("/v1") + "/stats", timeout=5).json()
        finally:
            if server is not None:
                server.send_signal(signal.SIGINT)
                try:
                    server.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    server.kill()
                    server.wait()
            endpoint.kill()
            endpoint.wait()
        summary = summarise(run, args.latency)
        summary["store"] = verify(home, run["results"], run["feedback"])
    summary["endpoint"] = {"latency_ms": args.latency * 1000,
                           "requests_seen": endpoint_stats.get("requests"),
                           "peak_in_flight": endpoint_stats.get("peak_in_flight")}
    p95 = summary["overhead_vs_nominal_ms"]["p95"]
    summary["target"] = {"p95_overhead_ms": OVERHEAD_TARGET_MS,
                         "held": p95 is not None and p95 <= OVERHEAD_TARGET_MS}
    report = {"benchmark": "serve-load", "rps": args.rps, "seconds": args.seconds,
              "machine": machine, **summary}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")

    lat, onom, omod = (summary["latency_ms"], summary["overhead_vs_nominal_ms"],
                       summary["overhead_vs_model_call_ms"])
    print(f"**Machine:** {machine['platform']}, {machine['cores']} cores, "
          f"Python {machine['python']}")
    print()
    print("| rps | sent | errors | p50 ms | p95 ms | p99 ms | overhead p50 / p95 ms "
          "(vs 50 ms) | overhead p50 / p95 ms (vs model call) | achieved rps | in store |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    store = summary["store"]
    print(f"| {args.rps:g} | {summary['requests_sent']} | {summary['errors']} | {lat['p50']} | "
          f"{lat['p95']} | {lat['p99']} | {onom['p50']} / {onom['p95']} | "
          f"{omod['p50']} / {omod['p95']} | {summary['achieved_rps']} | "
          f"{store['acknowledged'] - store['acknowledged_missing']}/{store['acknowledged']} "
          f"requests, {store['feedback_acknowledged'] - store['feedback_missing']}/"
          f"{store['feedback_acknowledged']} feedback |")
    print()
    print(f"p95 overhead target {OVERHEAD_TARGET_MS:g} ms: "
          f"{'held' if summary['target']['held'] else 'missed'}; results in {args.out}")
    return 0 if store["all_present"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
