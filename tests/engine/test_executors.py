"""Executors without a cluster: the spec grammar, the local executor, and the ray executor's
driver side (cells, cache before dispatch, budget, lost actors) against in-process actors that
stand in for Ray's, so the engine, ``RayModel``, ``CellPool`` and ``CellWorker`` all run for
real. The same paths against a real local Ray cluster: ``test_ray.py``."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import honed
from honed.cli.app import main
from honed.engine.budget import Limits
from honed.engine.evaluate import EvalRun, evaluate_task
from honed.engine.executors import LocalExecutor, check_executor, open_executor, parse_executor
from honed.engine.executors import ray as ray_executor
from honed.engine.executors import worker as worker_module
from honed.engine.executors.base import ExecutorSpec
from honed.engine.executors.worker import decode_error, encode_error
from honed.engine.session import EngineOptions
from honed.errors import AuthError, ConfigError, RateLimitError
from honed.lifecycle.optimize import OptimizeOptions, optimize
from honed.optimizers.session import SearchOptions
from honed.providers.fake import FakeBatchModel, FakeModel
from honed.tracking.events import Event, ExampleScored

WORDS = ("good", "bad", "fine", "great", "poor", "okay")
LABELS = ("positive", "negative", "neutral")


def _rows(n: int, offset: int) -> list[dict[str, str]]:
    return [{"text": f"{WORDS[i % 6]} item {i + offset}", "label": LABELS[i % 6 % 3]}
            for i in range(n)]


def _task(model: str = "fake:answer=positive", **extra: Any) -> honed.Task:
    return honed.Task(name="ex", model=model, tracking="none",
                      prompt={"system": "Classify the review.", "user": "{text}"},
                      data={"train": _rows(24, 0), "val": _rows(12, 100),
                            "test": _rows(12, 200)},
                      evals=[{"type": "exact_match", "expected": "{label}"}],
                      output={"choices": list(LABELS)}, **extra)


# in-process stand-ins for Ray's actors ---------------------------------------------------------
class ActorDied(Exception):
    """Plays ``ray.exceptions.RayActorError``."""


class Ref:
    """An object ref: awaitable, or read by ``InProcessRay.get``."""

    def __init__(self, actor: Actor, coro: Any) -> None:
        self.actor, self.coro = actor, coro

    def __await__(self) -> Any:
        return self._result().__await__()

    async def _result(self) -> Any:
        if self.actor.dead:
            self.coro.close()
            raise ActorDied(self.actor.name)
        value = await self.coro
        await asyncio.sleep(0)
        if self.actor.dead:  # killed while the cell was in flight
            raise ActorDied(self.actor.name)
        return value


class Method:
    def __init__(self, actor: Actor, name: str) -> None:
        self.actor, self.name = actor, name

    def remote(self, *args: Any) -> Ref:
        self.actor.calls.append((self.name, args))
        return Ref(self.actor, getattr(self.actor.worker, self.name)(*args))


class Actor:
    def __init__(self, world: InProcessRay, name: str, args: tuple[Any, ...]) -> None:
        self.world, self.name, self.dead = world, name, False
        self.calls: list[tuple[str, tuple[Any, ...]]] = []
        self.worker = worker_module.CellWorker(*args)
        self.describe, self.run = Method(self, "describe"), Method(self, "run")


class ActorClass:
    def __init__(self, world: InProcessRay) -> None:
        self.world, self.name = world, ""

    def options(self, *, name: str, **_: Any) -> ActorClass:
        bound = ActorClass(self.world)
        bound.name = name
        return bound

    def remote(self, *args: Any) -> Actor:
        actor = Actor(self.world, self.name, args)
        self.world.actors.append(actor)
        return actor


class InProcessRay:
    """The few calls of the ``ray`` module the executor makes."""

    class exceptions:  # mirrors ray.exceptions
        RayError = RuntimeError
        RayActorError = ActorDied
        GetTimeoutError = TimeoutError

    def __init__(self, cpus: int = 2) -> None:
        self.cpus = cpus
        self.actors: list[Actor] = []

    def is_initialized(self) -> bool:
        return True

    def remote(self, cls: type) -> ActorClass:
        return ActorClass(self)

    def get(self, refs: list[Ref], timeout: float | None = None) -> list[Any]:
        out = []
        for ref in refs:
            try:
                ref.coro.send(None)
            except StopIteration as done:
                out.append(done.value)
        return out

    def kill(self, actor: Actor, no_restart: bool = True) -> None:
        actor.dead = True

    def cluster_resources(self) -> dict[str, float]:
        return {"CPU": float(self.cpus)}

    def available_resources(self) -> dict[str, float]:
        return self.cluster_resources()

    def cells(self) -> list[int]:
        return [len(args[0]) for a in self.actors for name, args in a.calls if name == "run"]


@pytest.fixture
def world(monkeypatch: pytest.MonkeyPatch) -> InProcessRay:
    fake = InProcessRay()
    monkeypatch.setattr(ray_executor, "connect", lambda address, field="--executor": fake)
    return fake


def _eval(task: honed.Task, home: Path, executor: str | None = None, *,
          cache: bool = True, callbacks: list[Callable[[Event], None]] | None = None,
          concurrency: int | None = None) -> EvalRun:
    options = EngineOptions(cache=cache, home=home, executor=executor, concurrency=concurrency)
    return asyncio.run(evaluate_task(task, split="test", options=options,
                                     callbacks=callbacks or []))


# the spec grammar ----------------------------------------------------------------------------
@pytest.mark.parametrize(("text", "spec"), [
    (None, ExecutorSpec()), ("local", ExecutorSpec()), (" Ray ", ExecutorSpec("ray")),
    ("ray:auto", ExecutorSpec("ray", "auto")),
    ("ray:ray://head:10001?actors=4&cell=8", ExecutorSpec("ray", "ray://head:10001", 4, 8)),
    ("ray?cpus=0.5", ExecutorSpec("ray", cpus=0.5)),
])
def test_parse_executor(text: str | None, spec: ExecutorSpec) -> None:
    assert parse_executor(text) == spec
    assert parse_executor(str(spec)) == spec


@pytest.mark.parametrize(("text", "says"), [
    ("dask", "unknown executor 'dask'"), ("local:somewhere", "takes no address"),
    ("ray?actors=0", "actors='0'"), ("ray?actors=two", "positive number"),
    ("ray?workers=2", "unknown executor option 'workers'"),
])
def test_bad_executor_specs_name_the_flag_and_the_fix(text: str, says: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_executor(text)
    assert says in str(caught.value) and "--executor" in str(caught.value)
    assert caught.value.fix


def test_local_is_the_default_and_changes_nothing(tmp_path: Path) -> None:
    assert isinstance(open_executor(None), LocalExecutor)
    assert isinstance(open_executor("local"), LocalExecutor)
    task = _task("fake")
    default, local = _eval(task, tmp_path / "a"), _eval(task, tmp_path / "b", "local")
    assert default.to_dict()["score"] == local.to_dict()["score"]
    assert [r.output for r in default.report.results] == [r.output for r in
                                                           local.report.results]


# without Ray installed -----------------------------------------------------------------------
def test_without_ray_the_executor_says_how_to_install_it(
        monkeypatch: pytest.MonkeyPatch, make_task: Callable[..., Path],
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray -> ImportError
    with pytest.raises(ConfigError, match=r'pip install "honed\[ray\]"'):
        check_executor("ray:auto")
    with pytest.raises(ConfigError, match=r"honed\[ray\]"):
        honed.evaluate(_task(), executor="ray")
    assert main(["eval", str(make_task()), "--executor", "ray"]) == 2
    err = capsys.readouterr().err
    assert 'pip install "honed[ray]"' in err and "Traceback" not in err
    assert main(["optimize", str(make_task()), "--executor", "ray:auto"]) == 2
    assert "--executor: the ray executor needs Ray" in capsys.readouterr().err


def test_a_bad_executor_in_the_task_file_names_the_file(
        make_task: Callable[..., Path], capsys: pytest.CaptureFixture[str]) -> None:
    path = make_task()
    path.write_text(path.read_text() + "executor: spark\n")
    assert main(["eval", str(path)]) == 2
    assert "task.yaml (executor): unknown executor 'spark'" in capsys.readouterr().err


# the ray executor's driver side, against in-process actors ----------------------------------
def test_cells_give_the_local_answers(world: InProcessRay, tmp_path: Path) -> None:
    task = _task("fake")
    local = _eval(task, tmp_path / "local", cache=False)
    remote = _eval(task, tmp_path / "ray", "ray?actors=2&cell=4", cache=False)
    assert [r.to_dict() | {"latency_s": 0} for r in remote.report.results] == \
           [r.to_dict() | {"latency_s": 0} for r in local.report.results]
    assert remote.report.stats.calls == 12
    assert world.cells() == [4, 4, 4] or sorted(world.cells()) == [4, 4, 4]
    busy = {a.name for a in world.actors if any(n == "run" for n, _ in a.calls)}
    assert len(busy) == 2  # spread over both actors


def test_the_cache_is_consulted_before_dispatch(world: InProcessRay, tmp_path: Path) -> None:
    task = _task("fake")
    first = _eval(task, tmp_path, "ray?actors=2")
    sent = sum(world.cells())
    second = _eval(task, tmp_path, "ray?actors=2")
    assert sent == 12 and sum(world.cells()) == 12  # nothing sent the second time
    assert second.report.stats.cache_hits == 12 and second.report.stats.calls == 0
    assert second.report.summary.score == first.report.summary.score


def test_a_lost_actor_has_its_cells_sent_again(world: InProcessRay, tmp_path: Path) -> None:
    def kill_first(event: Event) -> None:
        if isinstance(event, ExampleScored) and not any(a.dead for a in world.actors):
            world.kill(world.actors[0])

    task = _task("fake")
    local = _eval(task, tmp_path / "local", cache=False)
    remote = _eval(task, tmp_path / "ray", "ray?actors=2&cell=2", cache=False,
                   callbacks=[kill_first], concurrency=1)
    assert [r.output for r in remote.report.results] == [r.output for r in
                                                          local.report.results]
    assert remote.report.summary.errors == 0
    stats = remote.report.stats
    assert stats.retries >= 1 and stats.retry_reasons["ActorLost"] == stats.retries
    assert len(world.actors) == 3  # the lost one was replaced
    assert sum(world.cells()) == 12 + stats.retries


def test_optimize_on_ray_reports_the_executor(world: InProcessRay, tmp_path: Path) -> None:
    def run(executor: str | None, home: Path) -> dict[str, Any]:
        search = SearchOptions(seed=3, limits=Limits(max_calls=150), home=home,
                               executor=executor)
        options = OptimizeOptions(optimizer="mutate", search=search, write_output=False)
        return asyncio.run(optimize(_task("fake"), options)).to_dict()

    local, remote = run(None, tmp_path / "a"), run("ray?actors=2", tmp_path / "b")
    assert "executor" not in local
    assert remote.pop("executor") == {"kind": "ray", "address": "local", "actors": 2,
                                      "cells": len(world.cells()),
                                      "requests": sum(world.cells()), "actors_lost": 0,
                                      "cells_lost": 0, "replaced": 0}
    assert sum(world.cells()) == local["calls"]  # cache hits were never sent
    for key in ("run_id", "wall_s"):
        local.pop(key), remote.pop(key)
    assert remote == local


def test_batch_models_send_cells_to_each_actors_batch(
        world: InProcessRay, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    built: list[FakeBatchModel] = []

    def build(cfg: Any, pricing: Any, base_dir: Any) -> FakeBatchModel:
        built.append(FakeBatchModel(spec="fake", concurrency=1))
        return built[-1]

    monkeypatch.setattr(worker_module, "_build", build)
    run = _eval(_task("fake"), tmp_path, "ray?actors=2", cache=False)
    assert run.report.summary.n == 12 and run.report.stats.calls == 12
    assert [m.batches for m in built] == [[6], [6]]  # an even share per actor, one batch each
    built.clear()
    run = _eval(_task("fake"), tmp_path, "ray?actors=2&cell=5", cache=False)
    assert run.report.summary.n == 12
    assert sorted(b for m in built for b in m.batches) == [2, 5, 5]


def test_a_model_that_cannot_be_built_fails_before_any_call(
        world: InProcessRay, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with pytest.raises(AuthError, match="OPENAI_API_KEY"):
        _eval(_task("openai:gpt-4o-mini"), tmp_path, "ray")
    assert all(a.dead for a in world.actors)  # released


def test_a_model_object_cannot_go_to_a_remote_executor(tmp_path: Path) -> None:
    from honed.engine.session import open_engine
    from honed.task.config import load_splits

    async def go() -> None:
        task = _task()
        async with open_engine(task, load_splits(task),
                               EngineOptions(home=tmp_path, executor="ray"),
                               model=FakeModel()):
            pass

    with pytest.raises(ConfigError, match="give the model as a spec"):
        asyncio.run(go())


def test_provider_errors_cross_the_wire_as_the_same_class() -> None:
    error = decode_error(encode_error(RateLimitError("slow down", status=429,
                                                     retry_after=1.5)))
    assert isinstance(error, RateLimitError) and error.retryable
    assert (str(error), error.status, error.retry_after) == ("slow down", 429, 1.5)
    assert type(decode_error(encode_error(AuthError("no key")))) is AuthError


@pytest.mark.parametrize(("error", "says"), [
    (TimeoutError("timed out"), "2 Ray actors did not start within 300s"),
    (RuntimeError("The actor died\nModuleNotFoundError: No module named 'honed'"),
     "the Ray actors could not start: ModuleNotFoundError: No module named 'honed'"),
])
def test_actors_that_do_not_start_are_a_clear_error(
        world: InProcessRay, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        error: Exception, says: str) -> None:
    def fail(refs: list[Ref], timeout: float | None = None) -> list[Any]:
        for ref in refs:
            ref.coro.close()
        raise error

    monkeypatch.setattr(world, "get", fail)
    with pytest.raises(ConfigError, match=says.replace("(", r"\(")) as caught:
        _eval(_task("fake"), tmp_path, "ray?actors=2")
    assert caught.value.fix and all(a.dead for a in world.actors)
