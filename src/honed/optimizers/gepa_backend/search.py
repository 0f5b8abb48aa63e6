"""The ``gepa`` optimizer: GEPA's ``optimize`` at its documented defaults on a honed adapter."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

from pydantic import Field

from honed.errors import BudgetExhausted, ConfigError
from honed.optimizers.base import SearchContext
from honed.optimizers.dspy_backend.quiet import _quiet
from honed.optimizers.gepa_backend.adapter import (
    ORIGIN,
    HonedAdapter,
    NullLogger,
    Reflector,
    Row,
    Texts,
    _Bridge,
    _Stop,
    reflection_templates,
)
from honed.optimizers.params import OptimizerParams
from honed.types import Candidate

INSTALL = "pip install 'honed[gepa]'"
PROGRESS = "GEPA's own evaluation on val"
MERGE_SUBSAMPLE = 5  # val examples GEPA scores a merged candidate on before accepting it
UNLIMITED_ITERATIONS = 20  # without a call limit: max_metric_calls for about this many


def load_gepa() -> Any:
    """Import the ``gepa`` package or raise a ConfigError that says what to install."""
    try:
        import gepa
    except ImportError:
        raise ConfigError("the gepa optimizer needs the optional package 'gepa'",
                          field="--optimizer", fix=f"{INSTALL} (honed[dspy] brings it too)"
                          ) from None
    return gepa


@dataclass(eq=False)
class Watch:
    """GEPA's callback: each candidate GEPA scored on all of val is a point of honed's
    best-so-far curve (``ctx.progress``), and the best of them is kept for a cut-short run.
    ``to_candidate`` maps GEPA's texts to a honed candidate."""

    bridge: _Bridge
    to_candidate: Callable[[dict[str, str]], Candidate]
    phase: str = ORIGIN
    seen: list[tuple[float, dict[str, str]]] = field(default_factory=list)

    def on_valset_evaluated(self, event: Any) -> None:
        if event["num_examples_evaluated"] != event["total_valset_size"]:
            return
        score, texts = float(event["average_score"]), dict(event["candidate"])
        self.seen.append((score, texts))
        ctx = self.bridge.ctx
        report = functools.partial(ctx.progress, self.to_candidate(texts), score,
                                   event["num_examples_evaluated"], phase=self.phase,
                                   note=PROGRESS)
        self.bridge.loop.call_soon_threadsafe(report)

    def best(self) -> tuple[dict[str, str], float] | None:
        """GEPA's best so far: the highest mean on val, the first on ties."""
        if not self.seen:
            return None
        score, texts = max(self.seen, key=lambda pair: pair[0])
        return texts, score


@dataclass(frozen=True)
class _Outcome:
    texts: dict[str, str]
    gepa_val: float
    note: str


class GepaSearch(OptimizerParams):
    """GEPA: reflective evolution of the prompt's texts on honed's eval feedback, Pareto
    selection (the ``gepa`` package, at its documented defaults).

    Candidates are the prompt's ``components`` (system and user); demos stay the seed's. Every
    evaluation goes through honed (cached, counted against the budget); each example's eval
    feedback is GEPA's reflective dataset; the reflection model (else the task model) reflects.
    ``max_metric_calls`` defaults to the calls left; a stop callback ends GEPA before an
    iteration the budget could not finish, and a budget cut mid-iteration returns GEPA's best so
    far. GEPA's best is recorded with the evaluation honed made of it on all of val.
    """

    name: ClassVar[str] = "gepa"
    components: tuple[str, ...] = Field(("system", "user"), min_length=1, description=(
        "the prompt components GEPA rewrites"))
    max_metric_calls: int | None = Field(None, ge=1, description="metric calls (examples "
                                         "scored) GEPA may make; default: the calls left")
    reflection_minibatch_size: int = Field(3, ge=1, description="train examples each "
                                           "reflection sees")
    candidate_selection_strategy: Literal["pareto", "current_best", "epsilon_greedy",
                                          "top_k_pareto"] = Field(
        "pareto", description="which candidate the next mutation starts from")
    frontier_type: Literal["instance", "objective", "hybrid", "cartesian"] = Field(
        "instance", description="the Pareto frontier: per val example, per eval, or both")
    module_selector: Literal["round_robin", "all"] = Field(
        "round_robin", description="components rewritten per iteration: one in turn, or all")
    skip_perfect_score: bool = Field(True, description="skip a minibatch the parent already "
                                     "solves perfectly")
    perfect_score: float = Field(1.0, gt=0, le=1, description="the score counted as perfect")
    use_merge: bool = Field(False, description="merge candidates from two lineages")
    max_merge_invocations: int = Field(5, ge=0, description="merges tried at most")
    merge_val_overlap_floor: int = Field(5, ge=1, description="val examples two parents "
                                         "must share to be merged")
    acceptance_criterion: Literal["strict_improvement", "improvement_or_equal"] = Field(
        "strict_improvement", description="when a child beats its parent on the minibatch")
    cache_evaluation: bool = Field(False, description="GEPA's own cache of (candidate, "
                                   "example) scores: a repeat costs no rollout")

    def problem(self) -> str | None:
        if len(set(self.components)) != len(self.components):
            return f"components lists a name twice: {list(self.components)}"
        return None

    async def search(self, ctx: SearchContext, seed: Candidate) -> None:
        gepa = load_gepa()
        texts = self._texts(seed)
        calls, margin = self._plan(ctx, len(texts.names))
        left = ctx.remaining()
        ctx.phase(self.name, f"GEPA search (max_metric_calls={calls}"
                             + ("" if left is None else f", {left} calls left") + ")")
        bridge = _Bridge(ctx, asyncio.get_running_loop())
        adapter = HonedAdapter(bridge, texts, tuple(s.name for s in ctx.service.scorers))
        watch = Watch(bridge, texts.candidate)
        run = functools.partial(self._run, gepa, bridge, adapter, watch, calls, margin)
        with _quiet() as claim:
            try:
                outcome = await asyncio.to_thread(run, claim)
            except asyncio.CancelledError:
                bridge.stopped = "cancelled"
                raise
        await self._finish(ctx, seed, adapter, outcome)

    def _texts(self, seed: Candidate) -> Texts:
        unknown = [n for n in self.components if n not in seed.components]
        if unknown:
            raise ConfigError(f"gepa: the prompt has no component {unknown[0]!r}",
                              field="optimizer.components",
                              fix=f"choose among {sorted(seed.components)}")
        return Texts.of(seed, self.components)

    def _plan(self, ctx: SearchContext, n_components: int) -> tuple[int, int]:
        """``(max_metric_calls, margin)``: the margin is one iteration's worst case in rollouts
        (minibatch before and after, reflections, val); checks GEPA can do anything at all."""
        n_train, n_val = len(ctx.examples("train")), len(ctx.examples("val"))
        if not n_train or not n_val:
            raise ConfigError("gepa needs non-empty train and val splits", field="data")
        cpe, mb = ctx.calls_per_example(), self.reflection_minibatch_size
        reflections = n_components if self.module_selector == "all" else 1
        margin = (2 * min(mb, n_train) + n_val) * cpe + reflections
        if self.use_merge:
            margin = max(margin, (MERGE_SUBSAMPLE + n_val) * cpe)
        left = ctx.remaining()
        if left is not None and left < n_val * cpe + margin:
            raise BudgetExhausted("max_calls", f"gepa needs at least {n_val * cpe + margin} "
                                  "calls (the seed on val and one iteration)")
        if self.max_metric_calls is not None:
            return self.max_metric_calls, margin
        if left is not None:
            return left // cpe, margin
        iterations = UNLIMITED_ITERATIONS
        return n_val + iterations * 2 * mb + (iterations // 5 + 1) * n_val, margin

    def _run(self, gepa: Any, bridge: _Bridge, adapter: HonedAdapter, watch: Watch,
             calls: int, margin: int, claim: Callable[[], None]) -> _Outcome:
        """In the worker thread: GEPA's optimize; its best so far when the budget cut it."""
        claim()
        ctx, cut = bridge.ctx, []

        def stop(state: Any) -> bool:
            left = ctx.remaining()
            if bridge.stopped is None and (left is None or left >= margin):
                return False
            cut.append(left)
            return True

        try:
            result = gepa.optimize(**self._gepa_kwargs(bridge, adapter, watch, calls, stop))
        except _Stop:
            best = watch.best()
            reason = bridge.stopped or "?"
            if best is None:
                raise BudgetExhausted(reason, "gepa was stopped before it scored any candidate "
                                      "on all of val") from None
            return _Outcome(*best, f"stopped by the budget ({reason}); GEPA's best so far "
                            f"({len(watch.seen)} candidates on val)")
        idx = result.best_idx
        note = (f"max_metric_calls={calls}, {result.total_metric_calls} used, "
                f"{result.num_candidates} candidates on val")
        if cut and bridge.stopped is None:
            note += f"; stopped: {cut[0]} calls left, less than one iteration ({margin})"
        return _Outcome(dict(result.candidates[idx]), result.val_aggregate_scores[idx], note)

    def _gepa_kwargs(self, bridge: _Bridge, adapter: HonedAdapter, watch: Watch, calls: int,
                     stop: Callable[[Any], bool]) -> dict[str, Any]:
        ctx = bridge.ctx
        return dict(
            seed_candidate=adapter.texts.gepa_seed(),
            trainset=[Row("train", ex) for ex in ctx.examples("train")],
            valset=[Row("val", ex) for ex in ctx.examples("val")],
            adapter=adapter, reflection_lm=Reflector(bridge),
            reflection_prompt_template=reflection_templates(adapter.texts),
            candidate_selection_strategy=self.candidate_selection_strategy,
            frontier_type=self.frontier_type, skip_perfect_score=self.skip_perfect_score,
            reflection_minibatch_size=self.reflection_minibatch_size,
            perfect_score=self.perfect_score, module_selector=self.module_selector,
            use_merge=self.use_merge, max_merge_invocations=self.max_merge_invocations,
            merge_val_overlap_floor=self.merge_val_overlap_floor,
            acceptance_criterion=self.acceptance_criterion,
            cache_evaluation=self.cache_evaluation, max_metric_calls=calls,
            stop_callbacks=[stop], logger=NullLogger(), callbacks=[watch], seed=ctx.seed)

    async def _finish(self, ctx: SearchContext, seed: Candidate, adapter: HonedAdapter,
                      outcome: _Outcome) -> None:
        """Record GEPA's best with honed's evaluation of it on all of val (made while GEPA ran;
        evaluated now only if it is missing)."""
        candidate = adapter.texts.candidate(outcome.texts)
        scored = adapter.scored.get(candidate.id)
        if scored is None:
            scored = await ctx.evaluate(candidate, "val", origin=ORIGIN, parent=seed.id)
        changed = [n for n in adapter.texts.names
                   if candidate.components.get(n) != seed.components.get(n)]
        what = f"new {', '.join(changed)}" if changed else "the seed"
        note = f"{outcome.note}; {what}; GEPA val {outcome.gepa_val:.3f}"
        better = ctx.best is None or scored.objective > ctx.best.objective
        ctx.record(scored, accepted=better, phase=self.name, note=note)
