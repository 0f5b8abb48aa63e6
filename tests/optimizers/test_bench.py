import asyncio
from pathlib import Path

import honed.lifecycle.optimize as run_module
from honed.engine.budget import Limits
from honed.lifecycle.bench import BenchOptions, aggregate, bench, markdown
from honed.lifecycle.optimize import OptimizeOptions
from honed.optimizers.session import SearchOptions
from honed.providers.fake import FakeModel
from honed.task.config import load_task

from .test_run import Toy, make, smart


def test_bench_compares_optimizers_with_curves_table_and_plot(tmp_path: Path,
                                                              monkeypatch) -> None:
    task = load_task(make(tmp_path))
    toys = {"good": Toy(), "lazy": Toy(crash_after=None)}
    monkeypatch.setattr(run_module, "build_optimizer", lambda name: toys[name])

    async def fake_optimize(task, options, callbacks=()):
        return await original(task, options, callbacks=callbacks, model=FakeModel(smart))

    original = run_module.optimize
    import honed.lifecycle.bench as bench_module
    monkeypatch.setattr(bench_module, "optimize", fake_optimize)
    options = BenchOptions(["good", "lazy"], [0, 1],
                           OptimizeOptions(optimizer="good",
                                           search=SearchOptions(limits=Limits(max_calls=200))),
                           tmp_path / "out")
    report = asyncio.run(bench(task, options))
    rows = {r["optimizer"]: r for r in report["rows"]}
    assert set(rows) == {"good", "lazy"} and rows["good"]["seeds"] == 2
    assert rows["good"]["best_test_mean"] == 1.0 and rows["good"]["best_test_sd"] == 0.0
    assert rows["good"]["diff_mean"] == 0.5
    run = report["runs"][0]
    assert run["curve"][0] == (10, 0.5) and run["curve"][-1][1] == 1.0
    assert Path(report["plot"]).stat().st_size > 1000
    assert "| good | 2 |" in Path(report["table"]).read_text()
    assert markdown(aggregate(report["runs"]), "t").count("\n") == 6
