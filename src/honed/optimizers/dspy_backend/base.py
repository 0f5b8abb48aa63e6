"""What the DSPy optimizers share: serving honed's models to DSPy, running DSPy in a worker
thread within the budget, and verifying and recording its result.

DSPy gets the trainset shuffled with the run's seed. Its few-shot candidates depend on the
trainset's order, not on a seed: the labeled-only set is a fixed sample of it and the unshuffled
bootstrap takes its first examples (in MIPROv2 as in BootstrapFewShotWithRandomSearch, which
takes no seed at all). With the file's order every seed would share those sets, and several
seeds would understate DSPy's spread; shuffled, a seed gives one result, as it does for honed's
own optimizers.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import random
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

from honed.errors import BadResponseError, BudgetExhausted, ConfigError
from honed.optimizers.base import SearchContext
from honed.optimizers.dspy_backend.quiet import _quiet
from honed.optimizers.dspy_backend.runtime import (
    _dspy_classes,
    _Metric,
    _Runtime,
    _Stop,
    load_dspy,
)
from honed.optimizers.dspy_backend.spec import build_spec, to_candidate
from honed.providers.model_server import CallQuota, ModelServer
from honed.types import Candidate, Example

MAX_THREADS = 16
PROMPT_TOKENS = 2048  # the prompt model's reply (MIPROv2's proposals, GEPA's reflections)
SELF_PROMPT_TOKENS = 256  # the same when the task model proposes for itself: a small model
#                           that rambles would spend minutes per proposal


def demo_pool(ctx: SearchContext) -> list[Example]:
    """What a demo can be: the train examples, then the demos the task writes inline (a seed's
    inline demos reach DSPy's program, and map back to their ids)."""
    train = ctx.examples("train")
    known = {ex.id for ex in train}
    return [*train, *(ex for ex_id, ex in ctx.task.demo_rows().items() if ex_id not in known)]


# --- the optimizers --------------------------------------------------------------------------
@dataclass(frozen=True)
class _Setup:
    """What one optimizer's ``compile`` gets."""

    dspy: Any
    runtime: _Runtime
    student: Any
    trainset: list[Any]
    valset: list[Any]
    task_lm: Any
    prompt_lm: Any
    metric: _Metric
    budget: int | None  # calls DSPy may spend (None: unlimited)
    seed: int
    threads: int
    calls_per_example: int


@contextlib.asynccontextmanager
async def _serve(ctx: SearchContext, reserve: int) -> AsyncIterator[
        tuple[tuple[ModelServer, ModelServer], Callable[[], int | None]]]:
    """The task server (the engine's client, the task's output spec) and the prompt server (the
    reflection model, else the task model), sharing one quota: the calls left but ``reserve``.
    Also yields ``allowance``, the calls DSPy may still start (judges' calls included)."""
    left = ctx.remaining()
    quota = None if left is None else CallQuota(left - reserve)

    def allowance() -> int | None:
        remaining = ctx.remaining()
        if quota is None or remaining is None:
            return None
        return min(quota.left, remaining - reserve)

    service = ctx.service
    async with ModelServer(service.task_model, output=service.output_spec, quota=quota,
                           sample_seed=ctx.seed) as task_server, \
            ModelServer(service.proposal_model, quota=quota,
                        sample_seed=ctx.seed) as prompt_server:
        yield (task_server, prompt_server), allowance


class _DspyOptimizer:
    name = "dspy"
    needs_optuna = False
    feedback_metric = False

    def __init__(self, *, num_threads: int | None = None) -> None:
        if num_threads is not None and num_threads < 1:
            raise ConfigError(f"{self.name}: num_threads must be at least 1", field="num_threads")
        self.num_threads = num_threads

    def compile(self, s: _Setup) -> tuple[Any, str]:
        raise NotImplementedError

    async def search(self, ctx: SearchContext, seed: Candidate) -> None:
        dspy = load_dspy(optuna=self.needs_optuna)
        reserve = self._reserve(ctx)
        async with _serve(ctx, reserve) as (servers, allowance):
            runtime, setup = self._setup(dspy, ctx, seed, servers, allowance)
            with _quiet() as claim:
                try:
                    outcome = await asyncio.to_thread(self._run, setup, claim)
                except asyncio.CancelledError:
                    runtime.stopped = "cancelled"
                    raise
        await self._verify(ctx, seed, runtime, *outcome)

    def _reserve(self, ctx: SearchContext) -> int:
        """The calls kept back to verify the result; checks DSPy can do anything at all."""
        if not ctx.examples("val") or not ctx.examples("train"):
            raise ConfigError(f"{self.name} needs non-empty train and val splits", field="data")
        reserve = len(ctx.examples("val")) * ctx.calls_per_example()
        left = ctx.remaining()
        if left is not None and left < 2 * reserve:
            raise BudgetExhausted("max_calls", f"{self.name} needs more than {2 * reserve} calls "
                                  f"(one val evaluation inside DSPy and one to verify)")
        ctx.phase(self.name, f"DSPy search ({'unlimited' if left is None else left - reserve} "
                             f"calls; {reserve} kept to verify)")
        return reserve

    def _setup(self, dspy: Any, ctx: SearchContext, seed: Candidate,
               servers: tuple[ModelServer, ModelServer],
               allowance: Callable[[], int | None]) -> tuple[_Runtime, _Setup]:
        spec, signature = build_spec(dspy, ctx.task, seed)
        train, val = ctx.examples("train"), ctx.examples("val")
        adapter_cls, program_cls, _ = _dspy_classes()
        runtime = _Runtime(spec, asyncio.get_running_loop(), ctx.service.scorers,
                           {ex.id: ex for ex in train + val}, frozenset(ex.id for ex in val),
                           servers, allowance)
        runtime.adapter = adapter_cls(spec)
        loop = asyncio.get_running_loop()
        runtime.on_val = lambda key: loop.call_soon_threadsafe(
            self._progress, ctx, seed, runtime, key)
        by_id = {ex.id: ex for ex in demo_pool(ctx)}
        demos = [spec.example(dspy, by_id[i]) for i in seed.demos if i in by_id]
        cfg = ctx.task.model
        common = dict(cache=False, num_retries=0, timeout=max(600.0, cfg.timeout_s * 4))
        task_lm = dspy.LM("openai/honed-task", api_base=servers[0].url,
                          api_key=servers[0].token, temperature=cfg.temperature,
                          max_tokens=cfg.max_tokens, **common)
        prompt_lm = dspy.LM("openai/honed-prompt", api_base=servers[1].url,
                            api_key=servers[1].token, temperature=0.7,
                            max_tokens=PROMPT_TOKENS if ctx.reflection else SELF_PROMPT_TOKENS,
                            **common)
        left = allowance()
        metric = _Metric(runtime, dspy.Prediction if self.feedback_metric else None)
        model = ctx.service.task_model  # a batching model serves DSPy's threads in batches
        threads = self.num_threads or (MAX_THREADS if model.supports_batch
                                       else min(MAX_THREADS, max(1, model.concurrency)))
        setup = _Setup(dspy, runtime, program_cls(runtime, signature, demos),
                       [spec.example(dspy, ex)
                        for ex in random.Random(ctx.seed).sample(train, len(train))],
                       [spec.example(dspy, ex) for ex in val], task_lm, prompt_lm, metric,
                       None if left is None else max(0, left), ctx.seed, threads,
                       ctx.calls_per_example())
        return runtime, setup

    def _run(self, s: _Setup, claim: Callable[[], None]) -> tuple[str, list[Any], str]:
        """In the worker thread: compile, or fall back to the best candidate seen on val."""
        claim()
        rt, dspy = s.runtime, s.dspy
        why: str | None = None
        with dspy.context(lm=s.task_lm, adapter=_dspy_classes()[2](), trace=[],
                          num_threads=s.threads, provide_traceback=False):
            try:
                program, plan = self.compile(s)
            except _Stop:
                why = ""
            except Exception as exc:
                if rt.stopped is None and not any(sv.exhausted for sv in rt.servers):
                    if type(exc).__name__ == "AdapterParseError":
                        first = (str(exc).strip().splitlines() or ["?"])[0][:200]
                        raise BadResponseError(
                            f"{self.name}: DSPy could not parse the prompt model's answer "
                            f"({first}); pass a capable --reflection-model") from None
                    raise
                why = f" ({type(exc).__name__})"
        if why is not None:
            gc.collect()  # DSPy's abandoned progress bars print when collected: do it here, quiet
            return self._fallback(s, why)
        predictor = program.predictors()[0]
        return predictor.signature.instructions, list(predictor.demos), plan

    def _fallback(self, s: _Setup, why: str) -> tuple[str, list[Any], str]:
        rt = s.runtime
        reason = rt.stopped or next((sv.exhausted for sv in rt.servers if sv.exhausted), "?")
        best = rt.best_seen()
        if best is None:
            raise BudgetExhausted(reason, f"{self.name} was stopped{why} before it scored any "
                                  "candidate on all of val")
        instructions, demos, mean = best
        return instructions, demos, (f"stopped by the budget ({reason}){why}; best DSPy "
                                     f"candidate seen on val (DSPy val {mean:.3f})")

    def _progress(self, ctx: SearchContext, seed: Candidate, rt: _Runtime, key: str) -> None:
        """A DSPy program scored on all of val: a point of the best-so-far curve."""
        instructions, demos = rt.programs[key]
        scores = rt.val_scores[key]
        candidate, _ = to_candidate(rt.spec, seed, instructions, demos, demo_pool(ctx))
        ctx.progress(candidate, sum(scores.values()) / len(scores), len(scores),
                     phase=self.name, note="DSPy's own evaluation on val")

    async def _verify(self, ctx: SearchContext, seed: Candidate, rt: _Runtime,
                      instructions: str, demos: list[Any], plan: str) -> None:
        candidate, notes = to_candidate(rt.spec, seed, instructions, demos, demo_pool(ctx))
        dspy_val = rt.val_mean(instructions, demos)
        if dspy_val is not None:
            notes.append(f"DSPy val {dspy_val:.3f}")
        scored = await ctx.evaluate(candidate, "val", origin=self.name, parent=seed.id)
        better = ctx.best is None or scored.objective > ctx.best.objective
        note = "; ".join([plan, *notes]) if plan else "; ".join(notes)
        ctx.record(scored, accepted=better, phase=self.name, note=note)

