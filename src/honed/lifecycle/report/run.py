"""A run's report: its summary, trajectory, Pareto front, examples × prompts matrix, the diff
from the seed to the best prompt and the per-eval breakdown, from the run store."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

from honed.errors import ConfigError
from honed.lifecycle.registry import PromptRegistry
from honed.lifecycle.report.data import Budget, Column, RunInfo, RunReport, SplitScore, Step
from honed.lifecycle.report.matrix import (
    Evaluated,
    build_matrix,
    by_candidate,
    eval_rows,
    front,
)
from honed.lifecycle.report.taskdata import TaskData, TaskLoader
from honed.lifecycle.report.worddiff import prompt_diff
from honed.tracking.run_ids import resolve_run
from honed.tracking.store import RunRow, RunStore

RUN_ID_TAG = "honed.run_id"  # on a registry version: the run whose best prompt it is
MAX_COLUMNS = 12  # prompts in the matrix: the seed, the best, then the best-scoring others
NO_TEST_ROWS = ("no per-example results of the final test evaluation were recorded (runs by "
                "older versions of honed kept only its scores), so there is no held-out "
                "matrix")


def find_run(store: RunStore, text: str) -> RunRow:
    """The run ``text`` names (an id, a unique prefix or ``latest``), else a ConfigError."""
    row = resolve_run(store, text)
    if row is None:
        raise ConfigError(f"no run {text!r} in the run store", field="RUN",
                          fix="see the run ids with `honed runs list`")
    return row


def run_report(store: RunStore, text: str, *, tasks: TaskLoader | None = None,
               registry: PromptRegistry | None = None) -> RunReport:
    """The report of the run ``text`` names (see ``find_run``); with ``registry``, the version
    the run registered (registration follows the run, so its row does not say)."""
    row = find_run(store, text)
    data = (tasks or TaskLoader()).load(row.task_path)
    result = row.result or {}
    candidates = {c["id"]: c for c in store.candidates(row.id)}
    evaluations = store.evaluations(row.id)
    steps = tuple(_step(s) for s in store.steps(row.id))
    split = "val" if any(e["split"] == "val" for e in evaluations) else "train"
    evaluated = by_candidate(evaluations, split)
    seed_id = (result.get("seed") or {}).get("candidate_id") or _first_seed(candidates)
    best_id = (result.get("best") or {}).get("candidate_id") or _best(evaluated, seed_id)
    columns = _columns(candidates, by_candidate(evaluations, "val"), seed_id, best_id)
    shown = [c for c in columns if c.candidate_id in evaluated][:MAX_COLUMNS]
    per = [evaluated.get(c.candidate_id) for c in shown]
    prompts = {cid: _prompt(c) for cid, c in candidates.items()}
    recorded = result.get("pareto_front")
    tested = by_candidate(evaluations, "test")
    held_out = [replace(c, val=tested[c.candidate_id].score) for c in columns[:2]
                if c.candidate_id in tested]  # the seed and the best, scored on test
    return RunReport(
        run=_info(row, data), budget=_budget(row, result, steps),
        seed=_scores(result.get("seed"), evaluated.get(seed_id or "")),
        best=_scores(result.get("best"), evaluated.get(best_id or "")),
        test_diff=result.get("test_diff"), seed_id=seed_id, best_id=best_id,
        columns=tuple(columns), trajectory=steps,
        front=front(columns, [p["candidate_id"] for p in recorded] if recorded else None),
        matrix=build_matrix(split, shown, [e.results if e else None for e in per],
                            data.examples, len(evaluated) - len(shown)) if evaluated else None,
        diff=_diff(prompts, seed_id, best_id, data),
        evals=eval_rows(per), prompts=prompts,
        test_matrix=build_matrix("test", held_out,
                                 [tested[c.candidate_id].results for c in held_out],
                                 data.examples) if held_out else None,
        test_evals=eval_rows([tested[c.candidate_id] for c in held_out]),
        registered=result.get("registered") or registered_by(registry, row),
        warnings=tuple(result.get("warnings") or ()),
        notes=_notes(row, data, len(evaluated) - len(shown), bool(tested)))


def registered_by(registry: PromptRegistry | None, row: RunRow) -> dict[str, Any] | None:
    """The registry version whose ``honed.run_id`` tag names this run (None without one)."""
    if registry is None or row.result is None:
        return None
    try:
        versions = registry.versions(row.task)
    except ConfigError:
        return None
    for version in reversed(versions):
        if version.tags.get(RUN_ID_TAG) == row.id:
            return {"name": version.name, "version": version.version,
                    "alias": ", ".join(version.aliases) or None,
                    "gate": version.tags.get("honed.gate"),
                    "blocked": version.tags.get("honed.blocked") or None}
    return None


def _step(s: Mapping[str, Any]) -> Step:
    return Step(int(s["seq"]), int(s["iteration"]), s["phase"], s["candidate_id"], s["split"],
                float(s["score"]), int(s["n"]), bool(s["accepted"]), float(s["best_so_far"]),
                int(s["rollouts"]), float(s["cost_usd"]), s.get("note") or "")


def _first_seed(candidates: Mapping[str, Mapping[str, Any]]) -> str | None:
    seeds = [cid for cid, c in candidates.items() if c.get("origin") == "seed"]
    return seeds[0] if seeds else next(iter(candidates), None)


def _best(evaluated: Mapping[str, Evaluated], seed_id: str | None) -> str | None:
    """A run in progress: the candidate with the best score so far (the seed on ties)."""
    ranked = sorted(evaluated.values(), key=lambda e: (-e.score.score,
                                                       e.candidate_id != seed_id))
    return ranked[0].candidate_id if ranked else seed_id


def _columns(candidates: Mapping[str, Mapping[str, Any]], val: Mapping[str, Evaluated],
             seed_id: str | None, best_id: str | None) -> list[Column]:
    """Every candidate: the seed, the best, then the others by val score (unscored last)."""
    def column(cid: str) -> Column:
        ev, origin = val.get(cid), (candidates.get(cid) or {}).get("origin") or ""
        role = "seed" if cid == seed_id else "best" if cid == best_id else "candidate"
        label = {"seed": "seed", "best": "best"}.get(role, cid[:8])
        if cid == seed_id == best_id:
            label = "seed = best"
        return Column(cid, label, role, origin, ev.score if ev else None,
                      ev.per_call("input_tokens") if ev else None,
                      ev.per_call("cost_usd") if ev else None,
                      float(ev.summary.get("latency_p50_s", 0.0)) if ev else None)

    first = [c for c in dict.fromkeys([seed_id, best_id]) if c]
    rest = sorted((c for c in candidates if c not in first),
                  key=lambda c: (val[c].score.score if c in val else -1.0), reverse=True)
    return [column(cid) for cid in [*first, *rest]]


def _prompt(candidate: Mapping[str, Any]) -> dict[str, Any]:
    components = dict(candidate.get("components") or {})
    prompt: dict[str, Any] = {"system": components.pop("system", ""),
                              "user": components.pop("user", ""),
                              "demos": list(candidate.get("demos") or [])}
    if components:
        prompt["components"] = components
    return prompt


def _info(row: RunRow, data: TaskData) -> RunInfo:
    config = row.config
    search = config.get("search") or config
    return RunInfo(row.id, row.task, row.task_path, row.status, row.optimizer,
                   dict(config.get("params") or {}), search.get("seed"),
                   search.get("model") or data.model, search.get("reflection_model"),
                   dict(search.get("limits") or {}), row.created, row.updated)


def _budget(row: RunRow, result: Mapping[str, Any], steps: Sequence[Step]) -> Budget:
    limits = (row.config.get("search") or row.config).get("limits") or {}
    last = steps[-1] if steps else None
    tokens = (None if "input_tokens" not in result
              else int(result["input_tokens"]) + int(result.get("output_tokens", 0)))
    return Budget(
        calls=result.get("calls"), max_calls=limits.get("max_calls"),
        rollouts=result.get("rollouts", last.rollouts if last else None), tokens=tokens,
        max_tokens=limits.get("max_tokens"),
        cost_usd=result.get("cost_usd", last.cost_usd if last else None),
        max_usd=limits.get("max_usd"),
        wall_s=result.get("wall_s", (row.updated - row.created) if result else None),
        max_seconds=limits.get("max_seconds"), cache_hits=result.get("cache_hits"),
        retries=result.get("retries"), failed_calls=result.get("failed_calls"),
        proposer_calls=result.get("proposer_calls"), stopped=result.get("stopped"))


def _scores(recorded: Mapping[str, Any] | None,
            evaluated: Evaluated | None) -> dict[str, SplitScore | None]:
    """A prompt's val and test scores as the run recorded them; while it runs, val from its
    evaluations."""
    if recorded:
        return {"val": SplitScore.of(recorded.get("val")),
                "test": SplitScore.of(recorded.get("test"))}
    return {"val": evaluated.score if evaluated else None, "test": None}


def _diff(prompts: Mapping[str, dict[str, Any]], seed_id: str | None, best_id: str | None,
          data: TaskData) -> Any:
    if not seed_id or not best_id or seed_id not in prompts or best_id not in prompts:
        return None
    return prompt_diff("seed", prompts[seed_id], "best", prompts[best_id], data.examples)


def _notes(row: RunRow, data: TaskData, hidden: int, tested: bool) -> tuple[str, ...]:
    notes = [NO_TEST_ROWS] if row.result is not None and not tested else []
    if data.note:
        notes.append(data.note)
    if hidden:
        notes.append(f"{hidden} more candidate(s) are left out of the matrix (it shows the "
                     f"seed, the best and the {MAX_COLUMNS - 2} best-scoring others)")
    if row.status == "running":
        notes.append("the run is still in progress: the best prompt is the best so far and "
                     "test scores come at the end")
    elif row.result is None:
        notes.append(f"the run is {row.status}: it has no final result (resume it with "
                     "`honed optimize TASK --resume`)")
    return tuple(notes)
