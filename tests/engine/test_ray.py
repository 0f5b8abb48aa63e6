"""The ray executor on a real local Ray cluster (one per module: starting Ray takes seconds):
the same seed and budget give the same result as locally, the driver's cache is consulted
before anything is dispatched, a killed actor's cells are dispatched again, the throughput of
actors x concurrency against a 50 ms endpoint, and the CLI pointed at a running cluster."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import importlib
import json
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

import honed
from honed.engine.budget import Limits
from honed.lifecycle.optimize import OptimizeOptions, optimize
from honed.optimizers.session import SearchOptions
from honed.providers.fake_server import FakeServer
from honed.tracking.events import Event, ExampleScored

ray = pytest.importorskip("ray")

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"
LABELS = ("positive", "negative", "neutral")
WORDS = ("good", "bad", "fine", "great", "poor", "okay", "nice", "awful", "plain")


@pytest.fixture(scope="module")
def cluster() -> Iterator[dict[str, Any]]:
    """A local Ray cluster of 2 CPUs for the module; its address and start-up time."""
    started = time.perf_counter()
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    info = {"address": ray.get_runtime_context().gcs_address,
            "init_s": time.perf_counter() - started}
    yield info
    ray.shutdown()


def _rows(n: int, offset: int) -> list[dict[str, str]]:
    return [{"text": f"{WORDS[(i * 5) % len(WORDS)]} item {i + offset}",
             "label": LABELS[(i * 5) % len(WORDS) % 3]} for i in range(n)]


def _reply(messages: list[dict[str, Any]]) -> str:
    """A deterministic endpoint whose accuracy depends on the whole prompt (the system text,
    demos, the input), so different candidates score differently."""
    system = next((m["content"] for m in messages if m["role"] == "system"), "")
    text = str(messages[-1]["content"])
    first = text.split()[0] if text.split() else ""
    truth = LABELS[WORDS.index(first) % 3] if first in WORDS else "positive"
    key = f"{system}|{len(messages)}|{text}".encode()
    return truth if hashlib.sha256(key).digest()[0] % 3 else "positive"


def _task(url: str, concurrency: int = 4) -> honed.Task:
    return honed.Task(name="onray", tracking="none",
                      model={"spec": "openai:fake", "base_url": url,
                             "concurrency": concurrency},
                      prompt={"system": "Classify the review.", "user": "{text}"},
                      data={"train": _rows(32, 0), "val": _rows(16, 100),
                            "test": _rows(16, 200)},
                      evals=[{"type": "exact_match", "expected": "{label}"}],
                      output={"choices": list(LABELS)})


def _optimize(task: honed.Task, home: Path, executor: str | None,
              callbacks: list[Callable[[Event], None]] | None = None) -> dict[str, Any]:
    search = SearchOptions(seed=5, limits=Limits(max_calls=260), home=home, executor=executor)
    options = OptimizeOptions(optimizer="bayes", search=search, write_output=False)
    data = asyncio.run(optimize(task, options, callbacks=callbacks or [])).to_dict()
    for key in ("run_id", "wall_s"):
        data.pop(key)
    return data


def _honed_actors() -> list[str]:
    return sorted(a["name"] for a in ray.util.list_named_actors(all_namespaces=True)
                  if a["name"].startswith("honed-"))


def test_same_seed_and_budget_same_result_locally_and_on_ray(
        cluster: dict[str, Any], tmp_path: Path) -> None:
    with FakeServer(_reply) as server:
        task = _task(server.url)
        local = _optimize(task, tmp_path / "local", None)
        remote = _optimize(task, tmp_path / "ray", "ray?actors=2")
        executor = remote.pop("executor")
        assert remote == local
        assert local["best"]["val"]["score"] > local["seed"]["val"]["score"]  # it searched
        assert executor["kind"] == "ray" and executor["actors"] == 2
        assert executor["requests"] == local["calls"]  # only cache misses went to actors
        assert executor["actors_lost"] == 0 and remote["retries"] == 0
        # killed mid-run: the lost cells go out again, the result stands, the retry counted
        seen: list[str] = []

        def kill_actors(event: Event) -> None:
            if isinstance(event, ExampleScored) and not seen:
                seen.extend(_honed_actors())
                for name in seen:
                    with contextlib.suppress(ValueError):  # already gone
                        ray.kill(ray.get_actor(name), no_restart=True)

        faulted = _optimize(task, tmp_path / "fault", "ray?actors=2", [kill_actors])
    assert seen, "no actor was killed"
    lost = faulted.pop("executor")
    assert lost["actors_lost"] >= 1 and lost["replaced"] >= 1
    retries = faulted.pop("retries")
    assert retries >= 1 and faulted.pop("retry_reasons") == {"ActorLost": retries}
    assert faulted.pop("calls") == local["calls"] + retries
    for key in ("retries", "retry_reasons", "calls"):
        local.pop(key)
    assert faulted == local
    assert _honed_actors() == []  # every actor released at the end


def test_the_cache_is_consulted_before_dispatch(cluster: dict[str, Any],
                                                tmp_path: Path) -> None:
    with FakeServer(_reply) as server:
        task = _task(server.url)
        first = honed.evaluate(task, home=tmp_path, executor="ray?actors=2")  # the Python API
        sent = server.count
        second = honed.evaluate(task, home=tmp_path, executor="ray?actors=2")
        assert server.count == sent == 16
    assert second.report.stats.calls == 0 and second.report.stats.cache_hits == 16
    assert second.to_dict()["score"] == first.to_dict()["score"]


def _benchmark() -> ModuleType:
    if str(BENCHMARKS) not in sys.path:
        sys.path.insert(0, str(BENCHMARKS))
    return importlib.import_module("ray_throughput")


def test_throughput_of_two_actors_at_concurrency_16(cluster: dict[str, Any],
                                                    tmp_path: Path) -> None:
    """2 actors x 16 calls in flight against a 50 ms endpoint: the ideal is 640 calls a
    second. The benchmark's target is 0.8 of it (benchmarks/ray_throughput.py); on a loaded
    2-core machine, where the endpoint, the driver and both actors share the cores (and other
    work may run), this asks for 0.2: calls one at a time would give 1/32, and the peak of 32
    in flight shows the concurrency itself (0.33 was measured beside a busy benchmark)."""
    bench = _benchmark()
    with FakeServer(latency_s=0.05) as server:
        bench.measure(server.url, calls=64, actors=2, concurrency=16, latency=0.05,
                      home=tmp_path / "warm")  # actors' first start pays for imports
        result = bench.measure(server.url, calls=960, actors=2, concurrency=16,
                               latency=0.05, home=tmp_path / "run")
        peak = server.peak_in_flight
    assert result["errors"] == 0 and result["calls"] == 960 and result["score"] == 1.0
    assert peak == 32  # 16 per actor, as asked
    assert result["ratio"] >= 0.2, result


def test_the_cli_runs_on_a_running_cluster(cluster: dict[str, Any], make_task: Callable[..., Path],
                                           cli: Callable[..., Any]) -> None:
    path = make_task()
    spec = f"ray:{cluster['address']}?actors=2"
    done = cli("eval", str(path), "--model", "fake:answer=positive", "--executor", spec,
               "--json", "--no-cache")
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)  # nothing else on stdout
    assert data["score"] == 0.4 and data["n"] == 10 and data["calls"] == 10
