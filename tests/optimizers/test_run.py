"""The optimization driver: splits, budget, test at the end, resume, determinism, output file."""

import asyncio
from dataclasses import dataclass
from pathlib import Path

import pytest

import honed.lifecycle.optimize as run_module
from honed.engine.budget import Limits
from honed.errors import ConfigError
from honed.lifecycle.optimize import OptimizeOptions, open_store, optimize
from honed.optimizers.base import SearchContext
from honed.optimizers.session import SearchOptions
from honed.providers.base import Request
from honed.providers.fake import FakeModel, last_user
from honed.task.config import load_task
from honed.task.task import Task
from honed.types import Candidate

TASK = """\
# a comment that must survive
name: toy
model: fake
prompt:
  system: Classify.   # inline comment
  user: "{text}"
data:
  train: data/train.jsonl
  val: data/val.jsonl
  test: data/test.jsonl
evals:
  - type: exact_match
    expected: "{label}"
"""


def rows(prefix: str, n: int) -> list[dict]:
    return [{"text": f"{prefix} {i} {'good' if i % 2 else 'bad'}",
             "label": "positive" if i % 2 else "negative"} for i in range(n)]


def smart(request: Request) -> str:
    """Right only when the system prompt names the labels; otherwise always 'positive'."""
    text = last_user(request)
    if "labels" in request.messages[0].content:
        return "positive" if "good" in text else "negative"
    return "positive"


@dataclass
class Toy:
    """Proposes two candidates; the second one names the labels."""

    name: str = "toy"
    crash_after: int | None = None

    async def search(self, ctx: SearchContext, seed: Candidate) -> None:
        for i, text in enumerate(["Classify carefully.", "Classify. labels: positive, negative"]):
            if self.crash_after is not None and i >= self.crash_after:
                raise RuntimeError("simulated crash")
            ctx.iteration = i + 1
            scored = await ctx.evaluate(seed.with_components(system=text), "val")
            ctx.record(scored, accepted=True, phase="toy", note=text)


def make(tmp_path: Path) -> Path:
    import json

    for split, n in (("train", 8), ("val", 10), ("test", 12)):
        path = tmp_path / "data" / f"{split}.jsonl"
        path.parent.mkdir(exist_ok=True)
        path.write_text("".join(json.dumps(r) + "\n" for r in rows(split, n)), encoding="utf-8")
    task = tmp_path / "task.yaml"
    task.write_text(TASK, encoding="utf-8")
    return task


def go(task_path: Path, monkeypatch, toy: Toy, options: OptimizeOptions, model=None):
    monkeypatch.setattr(run_module, "build_optimizer", lambda name: toy)
    model = model or FakeModel(smart)
    return asyncio.run(optimize(load_task(task_path), options, model=model)), model


def test_finds_better_prompt_and_proves_it_on_test(tmp_path, monkeypatch) -> None:
    result, model = go(make(tmp_path), monkeypatch, Toy(), OptimizeOptions(optimizer="toy"))
    data = result.to_dict()
    assert data["seed"]["val"]["score"] == 0.5 and data["best"]["val"]["score"] == 1.0
    assert data["seed"]["test"]["n"] == 12 and data["best"]["test"]["score"] == 1.0
    assert data["test_diff"]["diff"] == 0.5 and data["test_diff"]["significant"]
    assert "labels" in data["best"]["prompt"]["system"]
    assert data["calls"] == len(model.calls) == 10 * 3 + 12 * 2
    text = Path(data["output"]).read_text(encoding="utf-8")
    assert "a comment that must survive" in text and "# inline comment" in text
    assert "labels: positive, negative" in text and "Optimized by honed run" in text
    assert load_task(data["output"]).prompt.system.endswith("negative")
    store = open_store()
    assert store.run(result.run_id).status == "finished"
    assert [s["phase"] for s in store.steps(result.run_id)] == ["seed", "toy", "toy"]
    store.close()


def test_search_never_sees_test(tmp_path, monkeypatch) -> None:
    @dataclass
    class Peeker:
        name: str = "peek"

        async def search(self, ctx, seed):
            await ctx.evaluate(seed, "test")

    monkeypatch.setattr(run_module, "build_optimizer", lambda name: Peeker())
    with pytest.raises(ConfigError, match="test"):
        asyncio.run(optimize(load_task(make(tmp_path)), OptimizeOptions(optimizer="peek"),
                             model=FakeModel(smart)))


def test_budget_caps_the_whole_run(tmp_path, monkeypatch) -> None:
    options = OptimizeOptions(optimizer="toy",
                              search=SearchOptions(limits=Limits(max_calls=10 + 24 + 5)))
    result, model = go(make(tmp_path), monkeypatch, Toy(), options)
    assert len(model.calls) <= 39 and result.stopped == "max_calls"
    assert result.best_val.score == 0.5  # only the seed fit in the search budget


def test_too_small_budget_is_a_clear_error(tmp_path, monkeypatch) -> None:
    options = OptimizeOptions(optimizer="toy", search=SearchOptions(limits=Limits(max_calls=20)))
    with pytest.raises(ConfigError, match="max-calls"):
        go(make(tmp_path), monkeypatch, Toy(), options)


def test_same_seed_same_result(tmp_path, monkeypatch) -> None:
    path = make(tmp_path)
    first, _ = go(path, monkeypatch, Toy(), OptimizeOptions(optimizer="toy"))
    second, model = go(path, monkeypatch, Toy(), OptimizeOptions(optimizer="toy"))
    assert first.best_val.candidate.id == second.best_val.candidate.id
    assert first.to_dict()["best"]["test"] == second.to_dict()["best"]["test"]
    assert len(model.calls) == 0  # everything was cached


def test_resume_after_crash_redoes_nothing_and_matches(tmp_path, monkeypatch) -> None:
    path = make(tmp_path)
    options = OptimizeOptions(optimizer="toy", search=SearchOptions(cache=False))
    with pytest.raises(RuntimeError, match="simulated crash"):
        go(path, monkeypatch, Toy(crash_after=1), options)
    store = open_store()
    crashed = store.latest_unfinished("toy")
    store.close()
    assert crashed is not None and crashed.status == "failed"
    resumed, model = go(path, monkeypatch, Toy(), OptimizeOptions(optimizer="toy", resume=True))
    # seed and the first proposal were checkpointed: only the second proposal and test run now
    assert len(model.calls) == 10 + 12 * 2
    monkeypatch.setenv("HONED_HOME", str(tmp_path / "fresh"))
    fresh, _ = go(path, monkeypatch, Toy(), options)
    assert resumed.to_dict()["best"] == fresh.to_dict()["best"]
    assert resumed.to_dict()["test_diff"] == fresh.to_dict()["test_diff"]


def test_resume_during_the_final_test_keeps_the_finished_half(tmp_path, monkeypatch) -> None:
    """A crash after the seed's test evaluation: the resumed run tests only the best."""
    from honed.engine.service import EvalService

    path, measure = make(tmp_path), EvalService.measure

    async def crash_on_best(self, candidate, examples, label):
        if label == "test best":
            raise RuntimeError("simulated crash in the test")
        return await measure(self, candidate, examples, label)

    options = OptimizeOptions(optimizer="toy", search=SearchOptions(cache=False))
    with monkeypatch.context() as patched:
        patched.setattr(EvalService, "measure", crash_on_best)
        with pytest.raises(RuntimeError, match="in the test"):
            go(path, monkeypatch, Toy(), options)
    resumed, model = go(path, monkeypatch, Toy(), OptimizeOptions(optimizer="toy", resume=True))
    assert len(model.calls) == 12  # the best's test; the seed's was checkpointed
    monkeypatch.setenv("HONED_HOME", str(tmp_path / "fresh"))
    fresh, _ = go(path, monkeypatch, Toy(), options)
    assert resumed.to_dict()["best"] == fresh.to_dict()["best"]
    assert resumed.to_dict()["stages"] == fresh.to_dict()["stages"]
    assert resumed.to_dict()["rollouts"] == fresh.to_dict()["rollouts"] == 10 * 3 + 12 * 2


def test_resume_without_unfinished_run(tmp_path, monkeypatch) -> None:
    with pytest.raises(ConfigError, match="resume"):
        go(make(tmp_path), monkeypatch, Toy(), OptimizeOptions(optimizer="toy", resume=True))


def test_resume_checks_leakage_again(tmp_path) -> None:
    """Data edited between a crash and ``--resume`` so that test leaks: the resume refuses."""
    from honed.providers.fake import FakeModel

    class Crash(BaseException):
        pass

    def dies(request):  # type: ignore[no-untyped-def]
        raise Crash

    train = [{"text": f"row {i}", "label": "a" if i % 2 else "b"} for i in range(20)]
    test = [{"text": f"other {i}", "label": "a"} for i in range(6)]

    def task(test_rows):  # type: ignore[no-untyped-def]
        return Task(name="leak", model="fake", tracking="none",
                          prompt={"user": "{text}"},
                          data={"train": train, "val": train[:4], "test": test_rows},
                          evals=[{"type": "exact_match", "expected": "{label}"}])

    options = OptimizeOptions(optimizer="fewshot", write_output=False,
                              search=SearchOptions(limits=Limits(max_calls=200), home=tmp_path))
    with pytest.raises(Crash):
        asyncio.run(optimize(task(test), options, model=FakeModel(dies)))
    leaked = [*test, {"text": "ROW 3!", "label": "a"}]
    resume = OptimizeOptions(optimizer="fewshot", search=SearchOptions(home=tmp_path), resume=True)
    with pytest.raises(ConfigError, match="drop-leaked"):
        asyncio.run(optimize(task(leaked), resume, model=FakeModel("a")))
