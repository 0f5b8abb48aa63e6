"""Scoring logged requests with one eval of a task (the ``eval:NAME`` metric; the drift monitor
scores the same way), each request once: scores are kept in ``request_scores``.

A request is scored on its logged output against an example made of its inputs. An eval whose
templates name a field that the inputs lack (``expected: "{label}"``) takes it from the
request's latest feedback that names a target (a correction, else a label); a request without
one waits (it is scored once such feedback arrives). Failed requests are not scored. A scorer
that raises is recorded as an error with score 0, as the engine records it (credentials masked).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from honed.errors import ConfigError
from honed.evals.base import EvalContext, Scorer, run_scorer
from honed.providers.base import Model
from honed.task.task import Task
from honed.task.template import variables
from honed.tracking.mlflow.redaction import env_secrets, mask_text
from honed.types import Example

Row = Mapping[str, Any]


def eval_spec(task: Task, name: str) -> Any:
    """The eval named ``name`` of ``task``; a ConfigError listing the names when missing."""
    from honed.task.eval_specs import eval_name

    for spec in task.evals:
        if eval_name(spec) == name:
            return spec
    names = ", ".join(eval_name(s) for s in task.evals)
    raise ConfigError(f"the task has no eval named {name!r}", file=task.source,
                      field="--metric", fix=f"use eval:NAME with one of: {names}")


def needed_fields(spec: Any) -> list[str]:
    """Fields the eval's templates name (``{label}`` in ``expected``, say)."""
    found: list[str] = []

    def walk(value: Any) -> None:
        if isinstance(value, str):
            found.extend(variables(value))
        elif isinstance(value, Mapping):
            for item in value.values():
                walk(item)
        elif isinstance(value, list | tuple):
            for item in value:
                walk(item)

    walk(spec.model_dump(exclude={"name", "type"}))
    return list(dict.fromkeys(found))


def feedback_target(row: Row) -> str | None:
    """The latest correction or label given on a request (a correction wins within one
    feedback item)."""
    for item in reversed(list(row.get("feedback") or ())):
        for key in ("correction", "label"):
            if item.get(key) is not None:
                return str(item[key])
    return None


def example_for(row: Row, fields: Sequence[str]) -> Example | None:
    """The example a request is scored on, or None when it cannot be scored yet."""
    inputs = dict(row.get("inputs") or {})
    missing = [f for f in fields if f not in inputs]
    if missing:
        target = feedback_target(row)
        if target is None:
            return None
        inputs.update({f: target for f in missing})
    return Example(str(row["id"]), inputs)


def build_scorer(task: Task, name: str) -> tuple[Scorer, list[Model]]:
    """The scorer of the task's eval ``name``, and the judge models it built (to close)."""
    from honed.evals.registry import ScorerEnv, builder_for
    from honed.providers.registry import build_model

    spec = eval_spec(task, name)
    models: list[Model] = []

    def judge_model(model_spec: str | None) -> Model:
        cfg = task.judge_model or task.model
        if model_spec is not None:
            cfg = cfg.model_copy(update={"spec": model_spec})
        models.append(build_model(cfg, pricing=task.pricing, base_dir=task.base_dir))
        return models[-1]

    env = ScorerEnv(task, name, spec.weight, judge_model)
    return builder_for(spec.type)(spec, env), models


async def _score_all(scorer: Scorer, items: list[tuple[Row, Example]],
                     name: str) -> list[dict[str, Any]]:
    async def one(row: Row, example: Example) -> dict[str, Any]:
        ctx = EvalContext(example, str(row["output"]), latency_s=float(row.get("latency_s")
                                                                       or 0.0),
                          cost_usd=float(row.get("cost_usd") or 0.0))
        try:
            result = await run_scorer(scorer, ctx)
        except Exception as exc:  # a scorer that raises is a recorded error
            # a judge's provider error may echo a credential: never store one
            error = mask_text(f"{type(exc).__name__}: {exc}", env_secrets())[:500]
            return {"request_id": row["id"], "eval": name, "score": 0.0, "passed": False,
                    "error": error, "created": time.time()}
        return {"request_id": row["id"], "eval": name, "score": result.score,
                "passed": result.passed, "error": None, "created": time.time()}

    return list(await asyncio.gather(*(one(row, ex) for row, ex in items)))


async def _close(models: Iterable[Model]) -> None:
    for model in models:
        await model.aclose()


def score_rows(task: Task, name: str, rows: Iterable[Row],
               already: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
    """New scores (``request_scores`` rows) of the eval ``name`` for the rows that have an
    output, are not in ``already`` and can be scored now."""
    spec, already = eval_spec(task, name), already or {}
    fields = needed_fields(spec)
    items = [(row, example) for row in rows
             if row["id"] not in already and row.get("error") is None
             and row.get("output") is not None
             and (example := example_for(row, fields)) is not None]
    if not items:
        return []
    scorer, models = build_scorer(task, name)

    async def run() -> list[dict[str, Any]]:
        try:
            return await _score_all(scorer, items, name)
        finally:
            await _close(models)

    return asyncio.run(run())


def score_requests(store: Any, task: Task, name: str,
                   rows: Sequence[Row]) -> dict[str, dict[str, Any]]:
    """Score what is new among ``rows`` with the eval ``name``, store it, and return every
    stored score of those rows (request id -> score row). ``store``: an ExperimentStore."""
    eval_spec(task, name)  # an unknown eval is named before anything is read
    ids = [row["id"] for row in rows]
    already = store.scores(name, ids)
    fresh = score_rows(task, name, rows, already)
    if fresh:
        store.add_scores(fresh)
        already = store.scores(name, ids)
    return already
