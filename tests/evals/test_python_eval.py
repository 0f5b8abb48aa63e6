"""``python`` eval: loading user functions and turning their results into EvalResults."""

from __future__ import annotations

import asyncio
import textwrap
from pathlib import Path
from typing import Any

import pytest

from honed.errors import ConfigError
from honed.evals.base import EvalContext, EvalResult
from honed.evals.python import PythonScorer
from honed.task.eval_specs import Python
from honed.types import Example

USER_CODE = """
from dataclasses import dataclass

from honed.evals.base import EvalResult

CALLS = []


@dataclass
class Seen:  # dataclasses need the module registered in sys.modules
    output: str


def three(output, example, config):
    CALLS.append(Seen(output))
    return output.strip() == example["label"] * config.get("times", 1)


def two(output, example):
    return 0.25 if output else 0.0


def one(output):
    return {"score": 0.9, "feedback": "nice", "category": "style"}


def rich(output, example, config):
    return EvalResult(0.5, False, "half", {"category": "partial"})


def dict_passed_only(output, example):
    return {"passed": False, "feedback": "nope"}


def out_of_range(output, example):
    return 7


def wrong_type(output, example):
    return "yes"


def boom(output, example):
    raise RuntimeError("user code failed")


async def coro(output, example, config):
    return True


def numpy_like(output, example):
    import numpy as np
    return np.float64(0.75)


def too_many(a, b, c, d):
    return True


NOT_CALLABLE = 3
"""


@pytest.fixture
def task_dir(tmp_path: Path) -> Path:
    (tmp_path / "checks").mkdir()
    (tmp_path / "checks" / "user_checks.py").write_text(USER_CODE, encoding="utf-8")
    (tmp_path / "bad_syntax.py").write_text("def f(:\n", encoding="utf-8")
    return tmp_path


def scorer(task_dir: Path, function: str, **spec: Any) -> PythonScorer:
    return PythonScorer(Python(type="python", function=function, **spec), task_dir, "task.yaml")


def score(s: PythonScorer, output: str, label: str = "ok") -> EvalResult:
    return asyncio.run(s.score(EvalContext(Example("e", {"label": label}), output)))


def test_file_function_with_three_args(task_dir: Path) -> None:
    s = scorer(task_dir, "checks/user_checks.py:three", config={"times": 2})
    assert score(s, " okok ").passed
    failed = score(s, "ok")
    assert not failed.passed and failed.category == "check_failed"
    assert "checks/user_checks.py:three returned False for output 'ok'" in failed.feedback


def test_function_is_loaded_once(task_dir: Path) -> None:
    s = scorer(task_dir, "checks/user_checks.py:three")
    score(s, "ok")
    score(s, "no")
    assert [seen.output for seen in s.func.__globals__["CALLS"]] == ["ok", "no"]


def test_two_args_number_result_uses_threshold(task_dir: Path) -> None:
    result = score(scorer(task_dir, "checks/user_checks.py:two", threshold=0.2), "x")
    assert result.score == 0.25 and result.passed
    assert not score(scorer(task_dir, "checks/user_checks.py:two"), "x").passed


def test_one_arg_dict_result(task_dir: Path) -> None:
    result = score(scorer(task_dir, "checks/user_checks.py:one"), "x")
    assert (result.score, result.passed, result.feedback) == (0.9, True, "nice")
    assert result.category == "style"


def test_dict_with_passed_only(task_dir: Path) -> None:
    result = score(scorer(task_dir, "checks/user_checks.py:dict_passed_only"), "x")
    assert (result.score, result.passed, result.feedback) == (0.0, False, "nope")
    assert result.category == "check_failed"


def test_eval_result_is_returned_as_is(task_dir: Path) -> None:
    result = score(scorer(task_dir, "checks/user_checks.py:rich"), "x")
    assert result == EvalResult(0.5, False, "half", {"category": "partial"})


def test_async_and_numpy_results(task_dir: Path) -> None:
    assert score(scorer(task_dir, "checks/user_checks.py:coro"), "x").passed
    assert score(scorer(task_dir, "checks/user_checks.py:numpy_like"), "x").score == 0.75


def test_module_path_resolves_beside_the_task_file(task_dir: Path) -> None:
    s = scorer(task_dir, "checks.user_checks:two")
    assert score(s, "x").score == 0.25


def test_importable_module_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    package = tmp_path / "site" / "honed_test_user_pkg"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("", encoding="utf-8")
    (package / "checks.py").write_text("def is_ok(output, example):\n"
                                       "    return output == example['label']\n",
                                       encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    s = PythonScorer(Python(type="python", function="honed_test_user_pkg.checks:is_ok"),
                     tmp_path / "elsewhere")
    assert s.arity == 2
    assert score(s, "ok").passed and not score(s, "no").passed


@pytest.mark.parametrize(("function", "message"), [
    ("checks/missing.py:f", "not found"),
    ("checks/user_checks.py:nope", "has no function 'nope'"),
    ("checks/user_checks.py:NOT_CALLABLE", "is not callable"),
    ("checks/user_checks.py:too_many", "must take (output, example, config)"),
    ("no_such_pkg.mod:f", "module 'no_such_pkg.mod' not found"),
    ("bad_syntax.py:f", "importing"),
    ("just_a_name", "is not 'module:function'"),
])
def test_bad_references_are_config_errors(task_dir: Path, function: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        scorer(task_dir, function)
    assert message in str(info.value)
    assert function in str(info.value)
    assert info.value.file == "task.yaml" and info.value.field == "function"


@pytest.mark.parametrize(("function", "error", "message"), [
    ("out_of_range", ValueError, "outside"),
    ("wrong_type", TypeError, "returned str"),
    ("boom", RuntimeError, "user code failed"),
])
def test_scoring_time_problems_raise(task_dir: Path, function: str, error: type[Exception],
                                     message: str) -> None:
    s = scorer(task_dir, f"checks/user_checks.py:{function}")
    with pytest.raises(error, match=message):
        score(s, "x")


def test_user_module_may_import_its_own_dependencies(task_dir: Path) -> None:
    code = textwrap.dedent("""
        import json

        def check(output, example):
            return json.loads(output)["ok"]
    """)
    (task_dir / "uses_json.py").write_text(code, encoding="utf-8")
    assert score(scorer(task_dir, "uses_json.py:check"), '{"ok": true}').passed


def test_missing_dependency_inside_user_module_is_reported(task_dir: Path) -> None:
    (task_dir / "needs_dep.py").write_text("import not_installed_dep_xyz\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="not_installed_dep_xyz"):
        scorer(task_dir, "needs_dep.py:f")
