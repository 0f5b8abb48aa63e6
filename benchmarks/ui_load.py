"""The dashboard (``honed ui``) over a full store: does every page answer in under 300 ms?

    nice -n 10 python benchmarks/ui_load.py [--runs 200] [--requests 10000] [--rounds 20]
        [--experiments 200] [--traffic 2000] [--alarms 1000] [--loop-events 5000]

It builds a fresh ``HONED_HOME`` in a temporary folder:

- real optimizations of the sample task (``honed.web.sample``: a scripted fake model), three
  of them (different seeds and optimizers), each registered in the prompt registry, then copied
  under new run ids until the run store holds ``--runs`` runs (every copy keeps its
  candidates, per-example evaluations and trajectory, so each run page is a full one);
- a production log with ``--requests`` requests over 30 days and feedback on one in ten, of
  which ``--traffic`` belong to the newest experiment (with feedback on about three in five);
- through the store APIs (``honed.web.sample_runtime``): ``--experiments`` experiments, each
  with the stored result of a real analysis and, once ended, its decision; ``--alarms`` drift
  alarms, all but four cleared; ``--loop-events`` events of two loops (four fifths and one
  fifth), a cycle every half hour and every hour.

Then it serves the dashboard with uvicorn on loopback and asks each page ``--rounds`` times, one
request at a time, timing each from send to the last byte. Reported per page: p50, p95 and max
in ms and the answer's size; the target holds when every page's p95 is under 300 ms. Results go
to ``benchmarks/results/ui-load.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import uvicorn

from honed.store import open_store
from honed.store.monitor import MonitorStore
from honed.tracking.store import RunStore
from honed.types import Candidate
from honed.web.app import create_app
from honed.web.sample import fill_log, run_sample, write_task
from honed.web.sample_runtime import fill_alarms, fill_experiments, fill_loop

RESULTS = Path(__file__).resolve().parent / "results" / "ui-load.json"
TARGET_MS = 300.0


def pct(values: list[float], q: float) -> float:
    """The ``q`` quantile (0..1) by nearest rank."""
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered) - 1, int(q * len(ordered) + 0.999999) - 1))]


def clone_run(store: RunStore, source: str, new_id: str) -> None:
    """A copy of a run under a new id: row, candidates, evaluations, steps and result."""
    row = store.run(source)
    assert row is not None
    store.create_run(new_id, kind=row.kind, task=row.task, task_path=row.task_path,
                     optimizer=row.optimizer, config=row.config)
    for cand in store.candidates(source):
        store.add_candidate(new_id, Candidate.from_dict(cand), parent=cand["parent"],
                            origin=cand["origin"])
    for ev in store.evaluations(source):
        store.save_evaluation(new_id, ev["key"], candidate_id=ev["candidate_id"],
                              split=ev["split"], n=ev["n"], score=ev["score"],
                              summary=ev["summary"], results=ev["results"],
                              rollouts=ev["rollouts"])
    for step in store.steps(source):
        seq = step.pop("seq")
        store.add_step(new_id, seq, **step)
    store.finish_run(new_id, row.status, {**(row.result or {}), "run_id": new_id})


def fill_runtime(home: Path, args: argparse.Namespace) -> dict[str, int]:
    """Experiments, alarms and loop events, through the store APIs."""
    from honed.store.experiments import ExperimentStore

    traffic = min(args.traffic, args.requests)
    with open_store(home=home) as log:
        fill_log(log, args.requests - traffic, days=30.0, feedback_every=10)
        fill_experiments(log, args.experiments, traffic=traffic)
        fill_alarms(log, args.alarms, prompts=("sentiment", "sentiment-b", "support"))
        main_loop = args.loop_events * 4 // 5
        events = fill_loop(log, "sentiment", main_loop, every_s=1800.0, max_events=main_loop)
        events += fill_loop(log, "support", args.loop_events, every_s=3600.0,
                            max_events=args.loop_events - events)
        return {"requests": len(log.requests()),
                "experiments": len(ExperimentStore.of(log).experiments()),
                "experiment_traffic": len(ExperimentStore.of(log).metric_rows("exp-000")),
                "alarms": sum(sum(c.values()) for c in MonitorStore.of(log).alarm_counts()
                              .values()),
                "loop_events": events}


def build(root: Path, runs: int) -> dict[str, Any]:
    task, home = write_task(root), root / "home"
    real = [asyncio.run(run_sample(task, home=home, max_calls=calls, seed=seed,
                                   optimizer=optimizer, publish=True))["run_id"]
            for seed, optimizer, calls in ((0, "auto", 200), (1, "mutate", 150),
                                           (2, "fewshot", 150))]
    store = RunStore(home / "runs.sqlite")
    try:
        for i in range(runs - len(real)):
            clone_run(store, real[i % len(real)], f"{real[i % len(real)]}-copy{i:03d}")
        count = len(store.runs(None, 100_000))
    finally:
        store.close()
    return {"home": home, "runs": real, "run_count": count}


def pages(runs: list[str]) -> dict[str, str]:
    first, second = runs[0], runs[1]
    return {
        "runs": "/runs", "runs search": f"/runs?q={first[-6:]}&sort=best_test",
        "runs table (htmx)": "/runs?status=finished&sort=cost_usd",
        "run": f"/runs/{first}", "run views (live swap)": f"/runs/{first}/views",
        "run report download": f"/runs/{first}/report.html",
        "compare": f"/compare?run={first}&run={second}&run=sentiment@candidate",
        "registry": "/registry", "prompt": "/registry/sentiment",
        "prompt diff": "/registry/sentiment/diff?a=1&b=2",
        "promote confirm": "/registry/sentiment/promote?version=1",
        "production (7d, the default)": "/production",
        "production (all)": "/production?range=all",
        "production (one prompt, 24h)": "/production?range=24h&prompt=sentiment",
        "experiments": "/experiments", "experiments, running only": "/experiments?status=running",
        "an experiment (with its history)": "/experiments/exp-000",
        "an ended experiment (decisions)": "/experiments/exp-005",
        "drift": "/drift", "drift, page 10 of the cleared": "/drift?page=10",
        "drift, clear confirmation": "/drift/clear?prompt=support",
        "loop": "/loop", "loop, 100 cycles": "/loop?show=100",
        "loop, the other loop": "/loop?loop=support",
        "login": "/login", "htmx.min.js": "/static/htmx.min.js",
    }


def measure(home: Path, paths: dict[str, str], rounds: int) -> dict[str, Any]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    server = uvicorn.Server(uvicorn.Config(create_app(home), host="127.0.0.1", port=port,
                                           log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.02)
    out: dict[str, Any] = {}
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as http:
            for name, path in paths.items():
                hx = {"HX-Request": "true"} if "htmx" in name else {}
                http.get(path, headers=hx).raise_for_status()  # warm: stores open, templates
                times, size = [], 0
                for _ in range(rounds):
                    start = time.perf_counter()
                    response = http.get(path, headers=hx)
                    size = len(response.content)
                    times.append((time.perf_counter() - start) * 1000)
                    response.raise_for_status()
                out[name] = {"path": path, "p50_ms": round(pct(times, 0.5), 1),
                             "p95_ms": round(pct(times, 0.95), 1),
                             "max_ms": round(max(times), 1), "bytes": size}
                print(f"{name:32} p50 {out[name]['p50_ms']:7.1f}  p95 {out[name]['p95_ms']:7.1f}"
                      f"  max {out[name]['max_ms']:7.1f} ms  {size:>9,} B", flush=True)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
    return out


def commit() -> str | None:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                              text=True, cwd=Path(__file__).parent, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--requests", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--experiments", type=int, default=200)
    parser.add_argument("--traffic", type=int, default=2000)
    parser.add_argument("--alarms", type=int, default=1000)
    parser.add_argument("--loop-events", type=int, default=5000)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="honed-ui-load-") as folder:
        started = time.perf_counter()
        built = build(Path(folder), args.runs)
        built.update(fill_runtime(built["home"], args))
        print(f"built {built['run_count']} runs, {built['requests']} requests, "
              f"{built['experiments']} experiments, {built['alarms']} alarms and "
              f"{built['loop_events']} loop events in {time.perf_counter() - started:.0f} s",
              flush=True)
        results = measure(built["home"], pages(built["runs"]), args.rounds)
    worst = max(results.values(), key=lambda r: r["p95_ms"])
    report = {
        "benchmark": "ui-load", "commit": commit(),
        "machine": {"platform": platform.platform(), "python": platform.python_version(),
                    "cores": os.cpu_count(),
                    "load_average_1m_before_after": [round(load_before[0], 2),
                                                     round(os.getloadavg()[0], 2)]},
        "runs": built["run_count"], "requests": built["requests"],
        "experiments": built["experiments"], "experiment_traffic": built["experiment_traffic"],
        "alarms": built["alarms"], "loop_events": built["loop_events"], "rounds": args.rounds,
        "target_p95_ms": TARGET_MS, "worst_p95_ms": worst["p95_ms"],
        "target_met": all(r["p95_ms"] < TARGET_MS for r in results.values()),
        "pages": results,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(f"worst p95 {worst['p95_ms']} ms; target {'met' if report['target_met'] else 'MISSED'}"
          f"; wrote {args.out}")
    return 0 if report["target_met"] else 1


if __name__ == "__main__":
    sys.exit(main())
