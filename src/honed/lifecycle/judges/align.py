"""``honed judge align``: make a task's ``llm_judge`` agree with people.

The judge becomes a task of its own (``judge_task``): people's labels of outputs are its data,
their label is its expected answer. The one optimize flow (``lifecycle.optimize``, default
optimizer ``auto``) searches its prompt and few-shot demos on train and val; the rubric as
written (before) and the best prompt found (after) are then measured once on the held-out
labels. The aligned judge is registered like any prompt (alias ``candidate``), with its held-out
kappa as tags; below ``min_kappa`` it is blocked from ``production`` (``honed registry promote``
refuses it without ``--force``, and ``promote`` here does not move it).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from honed.engine.session import honed_home
from honed.errors import ConfigError
from honed.lifecycle.judges import reference as ref
from honed.lifecycle.judges.judge_task import (
    TARGET,
    JudgeRows,
    build_rows,
    judge_model,
    judge_task,
    seed_prompt,
)
from honed.lifecycle.judges.ratings import Labelled, Scale, infer_scale, labels_of
from honed.lifecycle.judges.report import disagreements, kappa_change, side, verdicts
from honed.lifecycle.optimize import OptimizeOptions, optimize
from honed.lifecycle.registry import MODEL_TAG, PromptRegistry, check_name, require_ref
from honed.optimizers.base import describe
from honed.optimizers.result import OptimizationResult
from honed.optimizers.session import SearchOptions
from honed.providers.base import Model
from honed.task.eval_specs import LlmJudge, eval_name
from honed.task.task import Task
from honed.tracking.events import Callback


class AlignOptions(BaseModel):
    """An alignment's settings (parsed once at the edge)."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    eval: str | None = Field(None, description="the llm_judge eval to align, by name; default: "
                             "the task's only one")
    name: str | None = Field(None, description="the aligned judge's registry name; default: "
                             "TASK-judge (TASK-EVAL for a named eval)")
    optimizer: str = "auto"
    params: dict[str, Any] = Field(default_factory=dict)
    search: SearchOptions = Field(default_factory=SearchOptions)
    order: list[str] | None = Field(None, description="the labels low to high")
    test_fraction: float = Field(0.3, gt=0, lt=1, description="labels held out (stratified)")
    val_fraction: float = Field(0.25, gt=0, lt=1, description="of the rest, for selection")
    constrain: bool = Field(False, description="decode the answer as exactly one label (no "
                            "reason; for small local models)")
    min_kappa: float = Field(0.6, ge=-1, le=1, description="production needs held-out kappa "
                             "at least this")
    promote: bool = Field(False, description="point production at the judge if it passes")
    publish: bool = Field(True, description="register the judge (and gate it)")
    top: int = Field(5, ge=0, description="disagreements shown")

    @property
    def home(self) -> Path:
        return self.search.home or honed_home()


@dataclass(frozen=True)
class Alignment:
    """What an alignment did and measured (``to_dict`` for reports and ``--json``)."""

    data: dict[str, Any]
    refused: str | None = None  # why ``promote`` did not move production
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {**self.data, "refused": self.refused, "warnings": self.warnings}


def pick_judge(task: Task, name: str | None) -> LlmJudge:
    """The task's ``llm_judge`` eval named ``name`` (or its only one)."""
    judges = [s for s in task.evals if isinstance(s, LlmJudge)]
    names = [eval_name(s) for s in judges]
    if not judges:
        raise ConfigError("the task has no llm_judge eval to align", file=task.source,
                          field="evals", fix="add one: {type: llm_judge, rubric: ...}")
    if name is None and len(judges) > 1:
        raise ConfigError(f"the task has {len(judges)} llm_judge evals", file=task.source,
                          field="--eval", fix=f"choose one with --eval: {', '.join(names)}")
    if name is not None and name not in names:
        raise ConfigError(f"no llm_judge eval named {name!r}", file=task.source, field="--eval",
                          fix=f"llm_judge evals: {', '.join(names)}")
    return judges[names.index(name) if name is not None else 0]


def judge_name(task: Task, spec: LlmJudge, name: str | None) -> str:
    chosen = name or (f"{task.name}-judge" if spec.name is None else f"{task.name}-{spec.name}")
    check_name(chosen)
    return chosen


class _Registry:
    """The registry, opened on first use (a run that fails early never opens it)."""

    def __init__(self, given: PromptRegistry | None, home: Path) -> None:
        self._given, self._home = given, home

    def __call__(self) -> PromptRegistry:
        if self._given is None:
            from honed.lifecycle.registries import open_registry

            self._given = open_registry(self._home)
        return self._given


def _seed(spec: LlmJudge, labels: Sequence[str], numeric: bool, options: AlignOptions,
          registry: _Registry) -> tuple[dict[str, Any], Scale]:
    """The prompt to start from and the label scale: the rubric as written, or the registered
    judge the eval names (aligning it again on new labels)."""
    if spec.prompt is None:
        scale = infer_scale(labels, numeric, options.order)
        system, user = seed_prompt(spec.rubric, scale, reference=spec.expected is not None,
                                   constrained=options.constrain)
        return {"system": system, "user": user}, scale
    version = registry().get(require_ref(spec.prompt, "prompt"))
    judge = ref.judge_prompt(version)
    unknown = sorted(set(labels) - set(judge.scale.labels))
    if unknown:
        raise ConfigError(f"labels {unknown[:5]} are not on the scale of {judge.ref} "
                          f"({', '.join(judge.scale.labels)})", field="prompt",
                          fix="align the rubric instead (rubric: ...), or relabel")
    scale = Scale(judge.scale, version.tags.get(ref.ORDINAL_TAG) == "1")
    demos = [dict(judge.demos[d].fields) for d in judge.candidate.demos]
    return {"system": judge.candidate.system, "user": judge.candidate.user,
            "demos": demos}, scale


async def align(task: Task, labelled: Sequence[Labelled], options: AlignOptions | None = None,
                *, source: str = "labels", callbacks: Iterable[Callback] = (),
                model: Model | None = None,
                registry: PromptRegistry | None = None) -> Alignment:
    """Align ``task``'s judge to ``labelled`` (see the module's docstring). ``model`` replaces
    the judge's model (tests); ``registry`` the ``HONED_REGISTRY`` one under the home."""
    options = options or AlignOptions()
    spec = pick_judge(task, options.eval)
    name = judge_name(task, spec, options.name)
    registries = _Registry(registry, options.home)
    wheres = [f"row {i}" for i in range(1, len(labelled) + 1)]
    labels, numeric = labels_of([item.human for item in labelled], wheres, source)
    prompt, scale = _seed(spec, labels, numeric, options, registries)
    rows = build_rows(labelled, labels, task, spec, test=options.test_fraction,
                      val=options.val_fraction, seed=options.search.seed, source=source)
    jt = judge_task(name, judge_model(task, spec), prompt, rows, scale,
                    constrained=options.constrain or _constrained(spec, registries),
                    base_dir=task.base_dir, source=source)
    result = await optimize(jt, OptimizeOptions(
        optimizer=options.optimizer, params=options.params, search=options.search,
        drop_leaked=True, write_output=False, publish=False), callbacks=callbacks, model=model)
    data = _measure(task, spec, jt, rows, scale, result, options)
    warnings = [*rows.warnings, *([scale.note] if scale.note else []), *result.warnings]
    if not options.publish:
        return Alignment(data, None, warnings)
    return _publish(data, jt, result, scale, options, registries(), warnings)


def _constrained(spec: LlmJudge, registry: _Registry) -> bool:
    if spec.prompt is None:
        return False
    version = registry().get(require_ref(spec.prompt, "prompt"))
    return version.tags.get(ref.CONSTRAINED_TAG) == "1"


def _measure(task: Task, spec: LlmJudge, jt: Task, rows: JudgeRows, scale: Scale,
             result: OptimizationResult, options: AlignOptions) -> dict[str, Any]:
    seed = options.search.seed
    before = verdicts(result.seed_test, rows.test, scale)
    after = verdicts(result.best_test, rows.test, scale)
    run = result.to_dict()
    return {
        "task": task.name, "eval": eval_name(spec), "judge": jt.name, "model": jt.model.spec,
        "scale": scale.to_dict(),
        "labels": {"n": len(rows.all), "train": len(rows.train), "val": len(rows.val),
                   "test": len(rows.test)},
        "before": side(before, scale, seed), "after": side(after, scale, seed),
        "change": kappa_change(before, after, scale, seed),
        "disagreements": disagreements(after, scale, options.top),
        "prompt": describe(result.best_val.candidate),
        "run": {k: run.get(k) for k in ("run_id", "optimizer", "calls", "rollouts",
                                        "cache_hits", "cost_usd", "wall_s", "stopped")},
        "min_kappa": options.min_kappa,
    }


def _kappa(data: dict[str, Any]) -> float | None:
    after = data.get("after") or {}
    kappa = after.get("kappa")
    return None if kappa is None or math.isnan(kappa) else float(kappa)


def _tags(data: dict[str, Any], scale: Scale, jt: Task, constrained: bool) -> dict[str, Any]:
    after, before = data.get("after") or {}, data.get("before") or {}
    return {ref.LABELS_TAG: json.dumps(list(scale.labels), ensure_ascii=False),
            ref.NUMERIC_TAG: "1" if scale.judge.numeric else "0",
            ref.ORDINAL_TAG: "1" if scale.ordinal else "0",
            ref.CONSTRAINED_TAG: "1" if constrained else "0",
            ref.KAPPA_TAG: after.get("kappa"), ref.KAPPA_CI_TAG: after.get("kappa_ci"),
            ref.KAPPA_BEFORE_TAG: before.get("kappa"), ref.TEST_N_TAG: after.get("n"),
            ref.MIN_KAPPA_TAG: data["min_kappa"], ref.PREFIX + "task": data["task"],
            ref.PREFIX + "eval": data["eval"], "honed.run_id": data["run"]["run_id"],
            "honed.demo_target": TARGET, MODEL_TAG: jt.model.spec}


def _publish(data: dict[str, Any], jt: Task, result: OptimizationResult, scale: Scale,
             options: AlignOptions, registry: PromptRegistry,
             warnings: list[str]) -> Alignment:
    """Register the aligned judge with its kappa; gate it; promote it when asked and passing."""
    from honed.lifecycle.promote import gate_tags, promote, register_candidate
    from honed.lifecycle.tracked import demo_rows
    from honed.task.config import load_splits

    best = result.best_val.candidate
    kappa, gate = _kappa(data), f"kappa>={options.min_kappa:g}"
    blocked = [] if kappa is not None and kappa >= options.min_kappa else [gate]
    tags = {**_tags(data, scale, jt, jt.output is not None),
            **gate_tags("fail" if blocked else "pass", blocked)}
    rows = demo_rows(jt, best, load_splits(jt).train)
    version = register_candidate(registry, jt.name, best, tags, demo_rows=rows)
    data = {**data, "registered": {"name": version.name, "version": version.version,
                                   "alias": "candidate", "kappa": kappa,
                                   "gate": "fail" if blocked else "pass",
                                   "blocked": blocked, "backend": registry.backend}}
    refused = None
    if options.promote and blocked:
        shown = "unmeasured" if kappa is None else f"{kappa:.3f}"
        refused = (f"{version.name}/{version.version} not promoted: held-out kappa {shown} is "
                   f"below --min-kappa {options.min_kappa:g}")
    elif options.promote:
        data["promoted"] = promote(registry, version.name, version.version).to_dict()
    return Alignment(data, refused, warnings)
