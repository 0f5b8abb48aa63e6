import asyncio
from pathlib import Path

from honed.engine.budget import Limits
from honed.engine.evaluate import evaluate_task
from honed.engine.retry import RetryPolicy
from honed.engine.session import EngineOptions, open_engine
from honed.errors import TransportError
from honed.providers.base import Completion, Request
from honed.providers.fake import FakeBatchModel, FakeModel, last_user
from honed.task.config import load_splits, load_task
from honed.tracking.events import EvalFinished, ExampleScored
from honed.types import Usage

LABELS = {"I love it": "positive", "great value": "positive", "works perfectly": "positive",
          "so happy with this": "positive", "terrible service": "negative",
          "broke after a day": "negative", "awful, never again": "negative",
          "waste of money": "positive", "it is blue": "positive", "arrives on monday": "neutral"}


def run(task, **kwargs):
    return asyncio.run(evaluate_task(task, **kwargs))


def test_scores_with_ci_and_counts(make_task) -> None:
    task = load_task(make_task())
    task.model.spec = "fake"
    events = []
    options = EngineOptions(model="fake:answer=positive")
    result = run(task, options=options, callbacks=[events.append])
    data = result.to_dict()
    assert data["score"] == 0.4 and data["n"] == 10
    lo, hi = data["ci95"]
    assert 0.0 <= lo < 0.4 < hi <= 1.0
    assert data["calls"] == 10 and data["cache_hits"] == 0 and data["errors"] == 0
    assert sum(isinstance(e, ExampleScored) for e in events) == 10
    assert isinstance(events[-1], EvalFinished)


def test_second_run_is_served_from_cache(make_task) -> None:
    task = load_task(make_task())
    options = EngineOptions(model="fake:answer=negative")
    first, second = run(task, options=options), run(task, options=options)
    assert first.report.stats.calls == 10
    assert second.report.stats.calls == 0 and second.report.stats.cache_hits == 10
    assert second.report.summary.score == first.report.summary.score
    assert run(task, options=EngineOptions(model="fake:answer=negative", cache=False)
               ).report.stats.calls == 10


def test_budget_stops_cleanly(make_task) -> None:
    task = load_task(make_task())
    options = EngineOptions(model="fake:answer=positive", limits=Limits(max_calls=3),
                            concurrency=1)
    result = run(task, options=options)
    summary = result.report.summary
    assert result.report.stats.calls == 3 and summary.n == 3 and summary.skipped == 7
    assert result.report.stopped == "max_calls"


class Flaky:
    """Fails ``failures`` times per prompt with a retryable error, then answers."""

    spec, default_concurrency, constrains_output = "flaky", 4, False

    def __init__(self, failures: int) -> None:
        self.failures, self.seen = failures, {}

    async def complete(self, request: Request) -> Completion:
        key = last_user(request)
        self.seen[key] = self.seen.get(key, 0) + 1
        if self.seen[key] <= self.failures:
            raise TransportError("503 from upstream", status=503, retry_after=0)
        return Completion(LABELS.get(key, ""), Usage(5, 1))

    async def aclose(self) -> None:
        pass


def evaluate_with(task_path: Path, model, retries: int = 2):
    task = load_task(task_path)
    task.model.max_retries = retries
    splits = load_splits(task)

    async def go():
        async with open_engine(task, splits, EngineOptions(cache=False), model=model) as engine:
            engine.client.retry = RetryPolicy(retries, base_delay_s=0)
            return await engine.evaluate(task.seed_candidate(), splits.test)

    return asyncio.run(go())


def test_retries_are_counted_and_recover(make_task) -> None:
    report = evaluate_with(make_task(), Flaky(failures=2), retries=2)
    assert report.summary.errors == 0 and report.summary.score == 0.8
    assert report.stats.retries == 20 and report.stats.retry_reasons["TransportError"] == 20


def test_provider_failures_after_retries_are_counted_errors_and_failures(make_task) -> None:
    report = evaluate_with(make_task(), Flaky(failures=5), retries=1)
    # every row stays in n as a failure (score 0), and each is counted as an error
    assert report.summary.errors == 10 and report.summary.n == 10
    assert report.summary.score == 0.0 and report.summary.pass_rate == 0.0
    assert all("TransportError" in r.error and r.value == 0.0 for r in report.results)


def test_scorer_that_raises_is_recorded(make_task, tmp_path: Path) -> None:
    (tmp_path / "check.py").write_text(
        "def boom(output, example):\n"
        "    if example['text'] == 'it is blue':\n"
        "        raise ValueError('cannot judge')\n"
        "    return True\n", encoding="utf-8")
    body = make_task().read_text() + "  - type: python\n    function: check.py:boom\n"
    result = run(load_task(make_task(body)), options=EngineOptions(model="fake:answer=positive"))
    summary = result.report.summary
    assert summary.errors == 1 and summary.n == 10  # the errored row counts, as a failure
    bad = next(r for r in result.report.results if r.error)
    assert "cannot judge" in bad.error and bad.score is None and bad.value == 0.0


def test_concurrency_is_bounded(make_task) -> None:
    in_flight, peak = 0, 0

    def script(request: Request) -> str:
        return "x"

    class Counting(FakeModel):
        async def complete(self, request: Request) -> Completion:
            nonlocal in_flight, peak
            in_flight += 1
            peak = max(peak, in_flight)
            await asyncio.sleep(0.01)
            in_flight -= 1
            return await super().complete(request)

    task = load_task(make_task())
    splits = load_splits(task)

    async def go():
        options = EngineOptions(cache=False, concurrency=3)
        async with open_engine(task, splits, options, model=Counting(script)) as engine:
            await engine.evaluate(task.seed_candidate(), splits.test)

    asyncio.run(go())
    assert peak == 3


def test_demos_become_chat_turns_and_violations_are_counted(make_task) -> None:
    body = make_task().read_text().replace(
        "  user: '{text}'\n", "  user: '{text}'\n  demos: [DEMO]\n").replace(
        "evals:", "output:\n  choices: [positive, negative, neutral]\ndata_placeholder: 0\nevals:")
    body = body.replace("data_placeholder: 0\n", "")
    rows = [{"id": "DEMO", "text": "meh", "label": "neutral"}] + [
        {"id": str(i), **r} for i, r in enumerate(
            [{"text": "good", "label": "positive"}, {"text": "bad", "label": "negative"}])]
    path = make_task(body.replace("data:\n", "data:\n  id_field: id\n"), rows=rows)
    model = FakeModel({"good": "positive", "bad": "Negative!"})
    task = load_task(path)
    splits = load_splits(task)

    async def go():
        async with open_engine(task, splits, EngineOptions(cache=False), model=model) as engine:
            return await engine.evaluate(task.seed_candidate(), splits.test[1:])

    report = asyncio.run(go())
    roles = [m.role for m in model.calls[0].messages]
    assert roles == ["system", "user", "assistant", "user"]
    assert model.calls[0].messages[2].content == "neutral"
    assert report.summary.format_violations == 1


def test_cache_is_keyed_by_endpoint(make_task) -> None:
    from honed.engine.budget import Budget
    from honed.engine.client import ModelClient

    class Remote(FakeModel):
        def __init__(self, url: str) -> None:
            super().__init__("x", spec="openai:m")
            self.cache_namespace = f"openai:m@{url}"

    a = ModelClient(Remote("http://a/v1"), Budget())
    b = ModelClient(Remote("http://b/v1"), Budget())
    assert a.cache_namespace != b.cache_namespace


def batching() -> FakeBatchModel:
    return FakeBatchModel(lambda r: LABELS.get(last_user(r), ""))


def test_batching_models_get_cache_misses_in_one_call(make_task) -> None:
    task = load_task(make_task())
    splits = load_splits(task)
    model = batching()

    async def go(limits):
        options = EngineOptions(limits=limits)
        async with open_engine(task, splits, options, model=model) as engine:
            return await engine.evaluate(task.seed_candidate(), splits.test)

    first = asyncio.run(go(Limits()))
    assert model.batches == [10] and first.summary.score == 0.8 and first.stats.calls == 10
    again = asyncio.run(go(Limits()))
    assert model.batches == [10] and again.stats.cache_hits == 10
    assert again.summary.score == first.summary.score


def test_batching_respects_the_budget(make_task) -> None:
    task = load_task(make_task())
    splits = load_splits(task)
    model = batching()

    async def go():
        options = EngineOptions(cache=False, limits=Limits(max_calls=4))
        async with open_engine(task, splits, options, model=model) as engine:
            return await engine.evaluate(task.seed_candidate(), splits.test)

    report = asyncio.run(go())
    assert model.batches == [4] and report.summary.n == 4 and report.summary.skipped == 6
    assert report.stopped == "max_calls"


def test_batched_rows_are_scored_and_reported_as_they_finish(make_task) -> None:
    """Progress advances per finished row of a batch, not once the whole batch is done."""
    import time

    task = load_task(make_task())
    splits = load_splits(task)
    answered: list[float] = []
    scored: list[float] = []

    def answer(request: Request) -> str:
        answered.append(time.perf_counter())
        return "positive"

    def on_event(event: object) -> None:
        if isinstance(event, ExampleScored):
            scored.append(time.perf_counter())

    async def go():
        model = FakeBatchModel(answer, latency_s=0.01)
        async with open_engine(task, splits, EngineOptions(cache=False), [on_event],
                               model=model) as engine:
            return await engine.evaluate(task.seed_candidate(), splits.test), model

    report, model = asyncio.run(go())
    assert model.batches == [len(splits.test)] and report.summary.n == len(splits.test)
    assert len(scored) == len(splits.test)
    assert scored[0] < answered[-1]  # the first row was scored while the batch went on
