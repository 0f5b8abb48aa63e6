"""``python`` eval: a user function scores each output.

``function`` is ``package.module:func`` (importable, or a ``package/module.py`` beside the task
file) or ``path/to/file.py:func`` relative to the task file. The function is loaded once and called
as ``func(output, example, config)`` (or ``func(output, example)``, or ``func(output)``), and may be
async. It returns a bool, a number in [0, 1], an ``EvalResult`` or a dict
``{"score": ..., "passed": ..., "feedback": ..., "category": ...}``.

A bad path or a missing function is a ``ConfigError``; anything the function raises while scoring
is left to propagate, so the engine records it as that example's error.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import numbers
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from types import ModuleType
from typing import Any

from honed.errors import ConfigError
from honed.evals.base import EvalContext, EvalResult
from honed.evals.normalize import clip
from honed.task.eval_specs import Python, eval_name
from honed.types import content_hash

FIX = ("use 'package.module:func' (importable) or 'path/to/file.py:func' "
       "(relative to the task file)")
_POSITIONAL = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)


def _error(message: str, source: str | None, fix: str | None = FIX) -> ConfigError:
    return ConfigError(message, file=source, field="function", fix=fix)


def _is_file(target: str) -> bool:
    return target.endswith(".py") or "/" in target or "\\" in target


def load_file(path: Path, ref: str, source: str | None) -> ModuleType:
    """Import a Python file under a private module name derived from its path."""
    if not path.is_file():
        raise _error(f"python eval {ref!r}: file {path} not found", source)
    name = f"honed_user_eval_{content_hash(str(path.resolve()), length=12)}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise _error(f"python eval {ref!r}: cannot import {path}", source)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses and pickling in the user's file need the entry
    try:
        spec.loader.exec_module(module)
    except Exception as exc:
        sys.modules.pop(name, None)
        raise _error(f"python eval {ref!r}: importing {path} failed: "
                     f"{type(exc).__name__}: {exc}", source, fix=None) from exc
    return module


def _ours(exc: ModuleNotFoundError, target: str) -> bool:
    """Whether the missing module is the target (or a parent), not one it imports."""
    missing = exc.name or ""
    return target == missing or target.startswith(missing + ".")


def load_module(target: str, ref: str, base_dir: Path, source: str | None) -> ModuleType:
    """Import ``target``; fall back to ``base_dir/target/as/path.py`` when it is not importable."""
    try:
        return importlib.import_module(target)
    except ModuleNotFoundError as exc:
        fallback = base_dir / (target.replace(".", "/") + ".py")
        if _ours(exc, target) and fallback.is_file():
            return load_file(fallback, ref, source)
        if _ours(exc, target):
            raise _error(f"python eval {ref!r}: module {target!r} not found "
                         f"(nor {fallback})", source) from None
        raise _error(f"python eval {ref!r}: importing {target!r} failed: {exc}", source,
                     fix=None) from exc
    except Exception as exc:
        raise _error(f"python eval {ref!r}: importing {target!r} failed: "
                     f"{type(exc).__name__}: {exc}", source, fix=None) from exc


def load_function(ref: str, base_dir: Path, source: str | None = None) -> Callable[..., Any]:
    """Resolve ``module:func`` or ``file.py:func`` to a callable, or raise ``ConfigError``."""
    target, _, func_name = ref.rpartition(":")
    if not target or not func_name.isidentifier():
        raise _error(f"python eval function {ref!r} is not 'module:function'", source)
    if _is_file(target):
        module = load_file(base_dir / target, ref, source)
    else:
        module = load_module(target, ref, base_dir, source)
    func = getattr(module, func_name, None)
    if func is None:
        raise _error(f"python eval {ref!r}: {target!r} has no function {func_name!r}", source)
    if not callable(func):
        raise _error(f"python eval {ref!r}: {func_name!r} is not callable", source)
    return func


def arity(func: Callable[..., Any], ref: str, source: str | None) -> int:
    """How many of ``(output, example, config)`` to pass: 1, 2 or 3."""
    try:
        params = list(inspect.signature(func).parameters.values())
    except (TypeError, ValueError):
        return 3
    if any(p.kind is inspect.Parameter.VAR_POSITIONAL for p in params):
        return 3
    positional = [p for p in params if p.kind in _POSITIONAL]
    required = [p for p in params if p.default is inspect.Parameter.empty
                and p.kind not in (inspect.Parameter.VAR_KEYWORD,)]
    if not positional or len(required) > 3 or len(required) > len(positional):
        raise _error(f"python eval {ref!r} must take (output, example, config) "
                     "or (output, example)", source, fix="change the function's parameters")
    return min(len(positional), 3)


def _plain(value: Any) -> Any:
    """numpy scalars (``np.float64``, ``np.bool_``) to Python values."""
    item = getattr(value, "item", None)
    if type(value).__module__ == "numpy" and callable(item):
        return item()
    return value


def _from_number(value: float, threshold: float, ref: str, output: str) -> EvalResult:
    score = float(value)
    if not 0.0 <= score <= 1.0:
        raise ValueError(f"python eval {ref!r} returned {value!r}, outside [0, 1]")
    passed = score >= threshold
    feedback = "" if passed else (f"{ref} scored {score:.2f} < threshold {threshold:.2f} "
                                  f"for output {clip(output)}")
    return EvalResult(score, passed, feedback, {} if passed else {"category": "check_failed"})


def _from_mapping(value: Mapping[str, Any], threshold: float, ref: str) -> EvalResult:
    if "score" not in value and "passed" not in value:
        raise ValueError(f"python eval {ref!r} returned a dict without 'score' or 'passed'")
    score = float(_plain(value["score"])) if "score" in value else float(bool(value["passed"]))
    if not 0.0 <= score <= 1.0:
        raise ValueError(f"python eval {ref!r} returned score {score!r}, outside [0, 1]")
    passed = bool(_plain(value["passed"])) if "passed" in value else score >= threshold
    labels = {str(k): str(v) for k, v in dict(value.get("labels") or {}).items()}
    if "category" in value:
        labels["category"] = str(value["category"])
    elif not passed:
        labels.setdefault("category", "check_failed")
    return EvalResult(score, passed, str(value.get("feedback") or ""), labels)


def to_result(value: Any, threshold: float, ref: str, output: str) -> EvalResult:
    """Turn whatever the user function returned into an ``EvalResult`` (or raise)."""
    value = _plain(value)
    if isinstance(value, EvalResult):
        return value
    if isinstance(value, bool):
        feedback = "" if value else f"{ref} returned False for output {clip(output)}"
        return EvalResult.of(value, feedback, None if value else "check_failed")
    if isinstance(value, numbers.Real):
        return _from_number(float(value), threshold, ref, output)
    if isinstance(value, Mapping):
        return _from_mapping(value, threshold, ref)
    raise TypeError(f"python eval {ref!r} returned {type(value).__name__}; return a bool, "
                    "a number in [0, 1], an EvalResult or a dict with 'score'")


class PythonScorer:
    """Calls the user's function once per example (loaded once, at construction)."""

    def __init__(self, spec: Python, base_dir: Path | None = None,
                 source: str | None = None) -> None:
        self.name, self.weight, self.spec = eval_name(spec), spec.weight, spec
        self.func = load_function(spec.function, base_dir or Path.cwd(), source)
        self.arity = arity(self.func, spec.function, source)

    async def score(self, ctx: EvalContext) -> EvalResult:
        args = (ctx.output, dict(ctx.example.fields), dict(self.spec.config))[: self.arity]
        value = self.func(*args)
        if inspect.isawaitable(value):
            value = await value
        return to_result(value, self.spec.threshold, self.spec.function, ctx.output)
