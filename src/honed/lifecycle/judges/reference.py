"""Registered judges: the tags ``honed judge align`` writes on a judge's version, and loading
them into a task's ``llm_judge`` evals that name one (``prompt: NAME@ALIAS`` or
``NAME/VERSION``).

The eval layer cannot open the registry, so the flows that evaluate a task (``honed eval``,
``honed optimize``) call ``resolve_judges`` first: each such eval becomes a ``ResolvedJudge``
carrying the version's prompt, demos and label scale. A task without such evals is returned as
is and no registry is opened.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from honed.errors import ConfigError
from honed.evals.judge import JudgePrompt, JudgeScale, resolved
from honed.lifecycle.registry import DEMO_TARGET_TAG, PromptRegistry, PromptVersion, require_ref
from honed.task.eval_specs import LlmJudge
from honed.task.task import Task
from honed.task.template import variables
from honed.types import Example

PREFIX = "honed.judge."
LABELS_TAG = PREFIX + "labels"  # JSON list of the labels, low to high
NUMERIC_TAG = PREFIX + "numeric"  # "1": the labels are numbers
ORDINAL_TAG = PREFIX + "ordinal"  # "1": the label order is a scale
CONSTRAINED_TAG = PREFIX + "constrained"  # "1": answers are decoded as one label, no reason
KAPPA_TAG = PREFIX + "kappa"  # held-out Cohen's kappa of the aligned judge
KAPPA_CI_TAG = PREFIX + "kappa_ci"
KAPPA_BEFORE_TAG = PREFIX + "kappa_before"  # the same, of the rubric as written
TEST_N_TAG = PREFIX + "test_n"
MIN_KAPPA_TAG = PREFIX + "min_kappa"  # the gate it was checked against
FIELDS = {"input", "output", "reference"}  # what a registered judge's templates may use

Opener = Callable[[], PromptRegistry]


def judge_prompt(version: PromptVersion) -> JudgePrompt:
    """The judge a registry version holds; a ConfigError when it is not one."""
    where = f"{version.name}/{version.version}"
    raw = version.tags.get(LABELS_TAG)
    try:
        labels = json.loads(raw) if raw else None
    except json.JSONDecodeError:
        labels = None
    if not (isinstance(labels, list) and len(labels) >= 2):
        raise ConfigError(f"{where} is not an aligned judge (no {LABELS_TAG} tag)", field=where,
                          fix="register a judge with honed judge align, and refer to it")
    unknown = sorted({v for part in (version.candidate.system, version.candidate.user)
                      for v in variables(part)} - FIELDS)
    if unknown:
        raise ConfigError(f"{where}: the judge's prompt uses {{{unknown[0]}}}", field=where,
                          fix=f"a judge's prompt may use only {', '.join(sorted(FIELDS))}")
    scale = JudgeScale(tuple(str(x) for x in labels), version.tags.get(NUMERIC_TAG) == "1")
    demos = {d: Example(d, dict(row)) for d, row in version.demo_rows.items()}
    missing = [d for d in version.candidate.demos if d not in demos]
    if missing:
        raise ConfigError(f"{where}: demo {missing[0]!r} has no stored row", field=where,
                          fix="register the judge again with honed judge align")
    return JudgePrompt(where, version.candidate, scale, demos,
                       version.tags.get(DEMO_TARGET_TAG) or "{human}",
                       version.tags.get(CONSTRAINED_TAG) == "1")


def judge_refs(task: Task) -> list[tuple[int, LlmJudge]]:
    """The task's ``llm_judge`` evals that name a registered judge, with their positions."""
    return [(i, spec) for i, spec in enumerate(task.evals)
            if isinstance(spec, LlmJudge) and spec.prompt is not None
            and getattr(spec, "registered", None) is None]


def resolve_judges(task: Task, registry: PromptRegistry | Opener) -> Task:
    """``task`` with every registered judge its evals name loaded (``registry``: the registry,
    or a function that opens it, called only when there is something to load)."""
    refs = judge_refs(task)
    if not refs:
        return task
    opened = registry() if callable(registry) else registry
    evals: list[Any] = list(task.evals)
    for index, spec in refs:
        assert spec.prompt is not None
        try:
            version = opened.get(require_ref(spec.prompt, "prompt"))
            evals[index] = resolved(spec, judge_prompt(version))
        except ConfigError as exc:
            exc.file = exc.file or task.source
            exc.field = f"evals.{index}.prompt"
            raise
    return task.model_copy(update={"evals": evals})


def with_judges(task: Task, options: Any) -> Task:
    """``resolve_judges`` from the registry of ``options.home`` (an ``EngineOptions``; default:
    honed's home), opened only when an eval names a registered judge."""
    from honed.engine.session import honed_home
    from honed.lifecycle.registries import open_registry

    return resolve_judges(task, lambda: open_registry(options.home or honed_home()))
