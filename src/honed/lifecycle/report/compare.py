"""Comparing prompts side by side: runs (their best prompt) and registry versions
(``NAME@ALIAS``, ``NAME/VERSION``), with per-example results where the run store has them."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from honed.errors import ConfigError
from honed.lifecycle.registry import PromptRegistry, parse_ref
from honed.lifecycle.report.data import Column, CompareReport, Side, SplitScore
from honed.lifecycle.report.matrix import Evaluated, build_matrix, by_candidate, eval_rows
from honed.lifecycle.report.run import RUN_ID_TAG, run_report
from honed.lifecycle.report.taskdata import TaskLoader
from honed.lifecycle.report.worddiff import prompt_diff
from honed.tracking.store import RunStore


def compare_report(specs: Sequence[str], *, store: RunStore | None,
                   registry: PromptRegistry | None,
                   tasks: TaskLoader | None = None) -> CompareReport:
    """Two or more runs or registry versions side by side: scores, per-eval breakdown, the
    word diff from the first to each other, and the examples × prompts matrix on val."""
    if len(specs) < 2:
        raise ConfigError("a comparison needs two or more runs or prompts", field="SPEC",
                          fix="give run ids, NAME@ALIAS or NAME/VERSION")
    tasks = tasks or TaskLoader()
    built = [_side(spec, store, registry, tasks) for spec in specs]
    sides = tuple(side for side, _, _ in built)
    evaluated = [ev for _, ev, _ in built]
    rows: dict[str, Mapping[str, Any]] = {}
    for _, _, known in built:
        rows.update(known)
    first = sides[0]
    diffs = tuple(prompt_diff(first.label, first.prompt, s.label, s.prompt, rows)
                  for s in sides[1:])
    columns = [Column(s.candidate_id, s.label, "candidate", s.kind, s.val) for s in sides]
    matrix = None
    if any(ev is not None for ev in evaluated):
        matrix = build_matrix("val", columns, [ev.results if ev else None for ev in evaluated],
                              rows)
    return CompareReport(sides, diffs, matrix, eval_rows(evaluated), _notes(sides, evaluated))


def _side(spec: str, store: RunStore | None, registry: PromptRegistry | None,
          tasks: TaskLoader) -> tuple[Side, Evaluated | None, Mapping[str, Mapping[str, Any]]]:
    """A side, its val results (when recorded) and the example rows it knows."""
    ref = parse_ref(spec)
    if ref is not None:
        if registry is None:
            raise ConfigError(f"{spec!r} is a registry reference and there is no prompt "
                              "registry here", field="SPEC", fix="register prompts first "
                              "(`honed optimize` does), or check HONED_HOME")
        return _registry_side(spec, registry.get(ref), store, tasks)
    if store is None:
        raise ConfigError(f"no run {spec!r}: no run store here (no optimization has been "
                          "recorded)", field="SPEC", fix="check HONED_HOME, or give NAME@ALIAS")
    report = run_report(store, spec, tasks=tasks, registry=registry)
    best = report.best_id or ""
    ev = by_candidate(store.evaluations(report.run.id), "val").get(best)
    side = Side(spec, "run", f"{report.run.id} best", report.run.task, best,
                report.prompts.get(best, {}), report.best.get("val"), report.best.get("test"),
                run=report, results=ev.results if ev else None, meta={"run_id": report.run.id})
    return side, ev, tasks.load(report.run.task_path).examples


def _registry_side(spec: str, version: Any, store: RunStore | None, tasks: TaskLoader,
                   ) -> tuple[Side, Evaluated | None, Mapping[str, Mapping[str, Any]]]:
    from honed.optimizers.base import describe

    tags = dict(version.tags)
    rows: dict[str, Mapping[str, Any]] = {k: dict(v) for k, v in version.demo_rows.items()}
    ev, run_id = None, tags.get(RUN_ID_TAG)
    if store is not None and run_id:
        row = store.run(run_id)
        if row is not None:
            ev = by_candidate(store.evaluations(row.id), "val").get(version.candidate.id)
            rows = {**tasks.load(row.task_path).examples, **rows}
    label = f"{version.name}/{version.version}"
    if label != spec:
        label = f"{spec} (v{version.version})"
    side = Side(spec, "registry", label, version.name, version.candidate.id,
                describe(version.candidate), _tag_score(tags, "val"), _tag_score(tags, "test"),
                results=ev.results if ev else None,
                meta={"name": version.name, "version": version.version,
                      "aliases": list(version.aliases), "tags": tags, "run_id": run_id})
    return side, ev, rows


def _tag_score(tags: Mapping[str, str], split: str) -> SplitScore | None:
    """A registry version's score on a split, from the tags an optimization wrote."""
    try:
        score = float(tags[f"{split}_score"])
    except (KeyError, ValueError):
        return None
    n, errors = tags.get(f"{split}_n", "0"), tags.get(f"{split}_errors", "0")
    return SplitScore(score, int(n) if n.isdigit() else 0,
                      int(errors) if errors.isdigit() else 0)


def _notes(sides: Sequence[Side], evaluated: Sequence[Evaluated | None]) -> tuple[str, ...]:
    notes = []
    if len({s.task for s in sides}) > 1:
        notes.append("the sides belong to different tasks: only examples they share are "
                     "comparable row by row")
    for side, ev in zip(sides, evaluated, strict=True):
        if ev is None:
            notes.append(f"{side.label}: no per-example results in the run store (a registry "
                         "version has them only when the run that registered it is here)")
    return tuple(notes)
