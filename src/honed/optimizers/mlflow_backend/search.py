"""The ``mlflow`` optimizer: ``mlflow.genai.optimize_prompts`` with honed as model and metric."""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

from pydantic import Field

from honed.errors import BudgetExhausted, ConfigError
from honed.optimizers.base import SearchContext
from honed.optimizers.dspy_backend.quiet import _quiet
from honed.optimizers.gepa_backend.adapter import (
    PROMPT_TOKENS,
    SELF_PROMPT_TOKENS,
    TEMPERATURE,
    NullLogger,
    _Bridge,
    _Stop,
)
from honed.optimizers.gepa_backend.search import Watch
from honed.optimizers.mlflow_backend.runtime import (
    Predictor,
    Rows,
    Templates,
    load_mlflow,
    private_store,
    quiet_loggers,
    stop_when,
)
from honed.optimizers.params import OptimizerParams
from honed.providers.model_server import CallQuota, ModelServer
from honed.types import Candidate

MLFLOW_MAX_METRIC_CALLS = 100  # GepaPromptOptimizer's default, used without a call limit
GEPA_MINIBATCH = 3  # GEPA's reflection minibatch at its default
REFLECTION_MODEL = "openai:/honed-reflection"  # served on loopback by a ModelServer


@dataclass(frozen=True)
class _Outcome:
    texts: dict[str, str]
    note: str


class MlflowSearch(OptimizerParams):
    """MLflow's ``mlflow.genai.optimize_prompts``: its GEPA optimizer (``GepaPromptOptimizer``)
    or its one-pass meta-prompt rewrite (``MetaPromptOptimizer``), on the prompt's components
    registered as MLflow prompts.

    The task model runs in ``predict_fn`` through honed (cached, counted against the budget);
    honed's evals are the scorer (score and feedback as its rationale); the reflection model
    (else the task model) is served to MLflow's litellm client on loopback. GEPA selects on the
    val split; the result is evaluated by honed on val and recorded.
    """

    name: ClassVar[str] = "mlflow"
    algorithm: Literal["gepa", "metaprompt"] = Field(
        "gepa", description="MLflow's optimizer: GepaPromptOptimizer or MetaPromptOptimizer")
    components: tuple[str, ...] = Field(("system", "user"), min_length=1, description=(
        "the prompt components registered with MLflow and optimized"))
    max_metric_calls: int | None = Field(None, ge=1, description="GEPA's metric calls; "
                                         "default: the calls left (100 without a limit)")

    def problem(self) -> str | None:
        if len(set(self.components)) != len(self.components):
            return f"components lists a name twice: {list(self.components)}"
        if self.algorithm == "metaprompt" and self.max_metric_calls is not None:
            return "max_metric_calls applies to algorithm gepa only"
        return None

    async def search(self, ctx: SearchContext, seed: Candidate) -> None:
        templates = self._templates(seed)
        reserve, margin, calls = self._plan(ctx)
        mlflow = load_mlflow(gepa=self.algorithm == "gepa")
        ctx.phase(self.name, f"MLflow optimize_prompts ({self.algorithm}"
                             + (f", max_metric_calls={calls}" if calls else "") + ")")
        bridge = _Bridge(ctx, asyncio.get_running_loop())
        async with _serve(ctx, reserve) as server:
            run = functools.partial(self._run, mlflow, bridge, server, templates, reserve,
                                    margin, calls)
            with _quiet() as claim:
                try:
                    outcome, predictor = await asyncio.to_thread(run, claim)
                except asyncio.CancelledError:
                    bridge.stopped = "cancelled"
                    raise
        await self._verify(ctx, seed, predictor, outcome)

    def _templates(self, seed: Candidate) -> Templates:
        unknown = [n for n in self.components if n not in seed.components]
        if unknown:
            raise ConfigError(f"mlflow: the prompt has no component {unknown[0]!r}",
                              field="optimizer.components",
                              fix=f"choose among {sorted(seed.components)}")
        return Templates.of(seed, self.components)

    def _plan(self, ctx: SearchContext) -> tuple[int, int, int | None]:
        """``(reserve, margin, max_metric_calls)``: the calls kept to evaluate the result on
        val (none for GEPA, whose val evaluations are honed's), one GEPA iteration's worst
        case; checks the run can do anything at all."""
        n_train, n_val = len(ctx.examples("train")), len(ctx.examples("val"))
        if not n_train or not n_val:
            raise ConfigError("mlflow needs non-empty train and val splits", field="data")
        cpe, left = ctx.calls_per_example(), ctx.remaining()
        if self.algorithm == "metaprompt":
            reserve, need = n_val * cpe, (1 + 2 * n_train + n_val) * cpe + 1  # seed, rewrite
            margin, calls = 0, None
        else:
            reserve = 0
            margin = (2 * min(GEPA_MINIBATCH, n_train) + n_val) * cpe + 1
            need = (1 + n_val) * cpe + margin  # predict_fn's check, the seed on val, one step
            calls = self.max_metric_calls or (
                MLFLOW_MAX_METRIC_CALLS if left is None else (left - reserve) // cpe)
        if left is not None and left < need:
            raise BudgetExhausted("max_calls", f"mlflow ({self.algorithm}) needs at least "
                                  f"{need} calls")
        return reserve, margin, calls

    def _run(self, mlflow: Any, bridge: _Bridge, server: ModelServer, templates: Templates,
             reserve: int, margin: int, calls: int | None,
             claim: Callable[[], None]) -> tuple[_Outcome, Predictor]:
        """In the worker thread: register the prompts in a private store and optimize them."""
        claim()
        ctx = bridge.ctx
        rows = Rows(templates.inputs, ctx.task.target_template(),
                    {"train": ctx.examples("train"), "val": ctx.examples("val")})
        watch = Watch(bridge, templates.candidate, phase=self.name)
        with quiet_loggers(), private_store(mlflow):
            prompts = {name: mlflow.genai.register_prompt(name=name, template=text)
                       for name, text in templates.mlflow_seed().items()}
            predictor = Predictor(bridge, templates, rows, prompts, reserve, self.name)
            optimizer = self._optimizer(bridge, server, rows, watch, margin, calls)
            try:
                result = mlflow.genai.optimize_prompts(
                    predict_fn=predictor.predict, train_data=rows.records("train"),
                    prompt_uris=[p.uri for p in prompts.values()], optimizer=optimizer,
                    scorers=[predictor.scorer(mlflow)], enable_tracking=False)
            except _Stop:
                return self._cut(bridge, watch), predictor
        texts = {p.name: p.template for p in result.optimized_prompts}
        note = f"{self.algorithm}, MLflow score {result.initial_eval_score} -> " \
               f"{result.final_eval_score}"
        if calls is not None:
            note = f"max_metric_calls={calls}; {note}"
        return _Outcome(texts, note), predictor

    def _optimizer(self, bridge: _Bridge, server: ModelServer, rows: Rows, watch: Watch,
                   margin: int, calls: int | None) -> Any:
        from mlflow.genai.optimize.optimizers import GepaPromptOptimizer, MetaPromptOptimizer

        ctx = bridge.ctx
        tokens = PROMPT_TOKENS if ctx.reflection else SELF_PROMPT_TOKENS
        lm = {"api_base": server.url, "api_key": server.token, "temperature": TEMPERATURE,
              "max_tokens": tokens}
        if self.algorithm == "metaprompt":  # MLflow sets max_completion_tokens itself
            return MetaPromptOptimizer(reflection_model=REFLECTION_MODEL,
                                       lm_kwargs={**lm, "max_completion_tokens": tokens})
        return GepaPromptOptimizer(
            reflection_model=REFLECTION_MODEL, max_metric_calls=calls or MLFLOW_MAX_METRIC_CALLS,
            gepa_kwargs={"valset": rows.records("val"), "seed": ctx.seed,
                         "reflection_lm_kwargs": {**lm, "num_retries": 0},
                         "stop_callbacks": [stop_when(bridge, margin, 0, [server])],
                         "callbacks": [watch], "logger": NullLogger()})

    def _cut(self, bridge: _Bridge, watch: Watch) -> _Outcome:
        best = watch.best()
        reason = bridge.stopped or "?"
        if best is None:
            raise BudgetExhausted(reason, "mlflow was stopped before it scored any candidate "
                                  "on all of val")
        return _Outcome(best[0], f"stopped by the budget ({reason}); GEPA's best so far "
                                 f"({len(watch.seen)} candidates on val)")

    async def _verify(self, ctx: SearchContext, seed: Candidate, predictor: Predictor,
                      outcome: _Outcome) -> None:
        """Record the result with honed's evaluation of it on all of val (the one made while
        MLflow ran when there is one, else a new one)."""
        candidate = predictor.templates.candidate(outcome.texts)
        results = predictor.val_results(candidate)
        if results is not None:
            scored = ctx.scored_from(candidate, "val", results)
        else:
            scored = await ctx.evaluate(candidate, "val", origin=self.name, parent=seed.id)
        changed = [n for n in predictor.templates.names
                   if candidate.components.get(n) != seed.components.get(n)]
        what = f"new {', '.join(changed)}" if changed else "the seed"
        better = ctx.best is None or scored.objective > ctx.best.objective
        ctx.record(scored, accepted=better, phase=self.name, note=f"{outcome.note}; {what}")


@contextlib.asynccontextmanager
async def _serve(ctx: SearchContext, reserve: int) -> AsyncIterator[ModelServer]:
    """The reflection model (else the task model) on loopback, for MLflow's litellm client;
    its calls are the run's, less the ``reserve``."""
    left = ctx.remaining()
    quota = None if left is None else CallQuota(left - reserve)
    async with ModelServer(ctx.service.proposal_model, quota=quota,
                           sample_seed=ctx.seed) as server:
        yield server
