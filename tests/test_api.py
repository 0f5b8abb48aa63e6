"""The public Python API: ``honed.load_task / evaluate / optimize / load_prompt``."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

import honed
from honed.engine.evaluate import EvalRun
from honed.errors import ConfigError
from honed.optimizers.result import OptimizationResult


def test_evaluate_returns_typed_results_and_prints_nothing(make_task, capsys) -> None:
    run = honed.evaluate(make_task(), split="val", model="fake:answer=positive")
    assert isinstance(run, EvalRun)
    assert run.report.summary.n == 10 and run.report.summary.errors == 0
    assert run.report.summary.score == pytest.approx(0.4)  # 4 of 10 rows are positive
    assert capsys.readouterr() == ("", "")


def test_evaluate_async_inside_a_running_loop(make_task) -> None:
    async def app() -> float:
        run = await honed.evaluate_async(str(make_task()), split="test", limit=4,
                                         model="fake:answer=negative")
        return run.report.summary.score

    assert asyncio.run(app()) == pytest.approx(0.0)


def distinct_task(make_task, tmp_path: Path) -> Path:
    path = make_task()
    for split, n in (("train", 8), ("val", 8), ("test", 10)):
        rows = [{"text": f"{split} {i} {'good' if i % 2 else 'bad'}",
                 "label": "positive" if i % 2 else "negative"} for i in range(n)]
        (tmp_path / "data" / f"{split}.jsonl").write_text(
            "".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def test_optimize_registers_the_best_prompt_that_load_prompt_renders(
        make_task, tmp_path: Path, capsys) -> None:
    home = tmp_path / "state"
    task = honed.load_task(distinct_task(make_task, tmp_path))
    result = honed.optimize(task, "mutate", max_calls=200,
                            home=home, params={"max_rounds": 1})
    assert isinstance(result, OptimizationResult)
    assert result.best_test is not None and result.best_test.n == 10
    assert result.registered is not None and result.registered["alias"] == "candidate"
    assert result.output is None  # write_output is off by default in the API
    assert capsys.readouterr() == ("", "")

    prompt = honed.load_prompt("t@candidate", home=home)
    assert prompt.candidate == result.best_val.candidate
    messages = prompt.render(text="great value")
    assert messages[-1] == {"role": "user", "content": "great value"}
    assert all(set(m) == {"role", "content"} for m in messages)
    assert prompt.format(text="great value").endswith("great value")
    assert prompt.variables == ["text"]


def test_optimize_rejects_unknown_optimizer_params(make_task, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no_such_param"):
        honed.optimize(distinct_task(make_task, tmp_path), "mutate",
                       params={"no_such_param": 1}, home=tmp_path)


def test_load_prompt_of_an_unknown_name_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError):
        honed.load_prompt("nothing@production", home=tmp_path)
    with pytest.raises(ConfigError, match="NAME@ALIAS"):
        honed.load_prompt("not a ref", home=tmp_path)
