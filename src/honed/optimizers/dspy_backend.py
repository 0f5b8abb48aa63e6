"""DSPy optimizers as honed searches: ``dspy:mipro``, ``dspy:gepa``, ``dspy:bootstrap-rs``.

The task becomes a one-predictor DSPy program: input fields are the prompt templates'
placeholders, the output field is the target (``{label}`` -> ``label``), the instructions are the
seed's system prompt and its demos the seed's demos. A custom DSPy adapter renders exactly the
messages honed's engine renders (system, demos as user/assistant turns, the user template) and
reads the reply as the raw output, so what DSPy measures is what honed measures. honed's evals are
the metric (GEPA also gets their feedback text); trainset = train split, valset = val split.

Every model call DSPy makes goes to a ``ModelServer`` on this event loop that serves the engine's
``ModelClient`` (the reflection model, when configured, is served by a second one for MIPRO's
proposer and GEPA's reflection; else the task model is), so it is cached, retried, counted and
limited by honed's Budget. DSPy is synchronous and runs in a worker thread. The calls that
verifying the result needs are kept back: the server refuses (HTTP 429) once only they are left,
and DSPy is then unwound (a ``BaseException``, which its error handlers do not swallow); the
result is DSPy's answer, or, when it was cut short, the best DSPy candidate fully scored on val.

The result becomes a honed candidate (the optimized instruction is the system prompt, the user
template is kept, demos map to train example ids by their inputs; others are dropped and noted)
and is verified by ``ctx.evaluate(candidate, "val")`` and recorded as phase ``dspy:...``.

DSPy is an optional extra, imported on first use. DSPy's response cache is disabled (honed
caches), its logging and progress output silenced, and its seeds set from the run seed.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import gc
import logging
import math
import os
import re
import sys
import threading
from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from honed.errors import BadResponseError, BudgetExhausted, ConfigError
from honed.evals.base import EvalContext, EvalResult, Scorer, run_scorer, weighted_score
from honed.optimizers.base import SearchContext
from honed.providers.model_server import CallQuota, ModelServer
from honed.task.render import prompt_text
from honed.task.task import Task
from honed.task.template import render, variables
from honed.types import Candidate, Example, Message, canonical_json, content_hash

INSTALL = "pip install 'honed[dspy]'"
ID_FIELD = "honed_example_id"  # carried by every dspy.Example, so the metric finds honed's example
MAX_THREADS = 16
PROMPT_TOKENS = 2048  # the prompt model's reply (MIPROv2's proposals, GEPA's reflections)
SELF_PROMPT_TOKENS = 256  # the same when the task model proposes for itself: a small model
#                           that rambles would spend minutes per proposal
_QUIET_LOGGERS = ("dspy", "gepa", "optuna", "LiteLLM", "litellm", "httpx", "lm15")


class _Stop(BaseException):
    """Unwinds DSPy when honed's budget is spent. A BaseException because DSPy's executors and
    optimizers catch ``Exception`` per example and would otherwise go on."""


def load_dspy(*, optuna: bool = False) -> Any:
    """Import DSPy (and optuna) or raise a ConfigError that says what to install."""
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # never fetch a cost map
    names = ("dspy", "optuna") if optuna else ("dspy",)
    for name in names:
        try:
            __import__(name)
        except ImportError:
            raise ConfigError(f"the DSPy optimizers need the optional package {name!r}",
                              field="--optimizer", fix=INSTALL) from None
    import dspy

    dspy.configure_cache(enable_disk_cache=False, enable_memory_cache=False)
    return dspy


# --- the task as a DSPy signature -----------------------------------------------------------
class _Lenient(dict[str, Any]):
    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


@dataclass(frozen=True)
class _Spec:
    """How the task maps onto one DSPy predictor, and back."""

    inputs: tuple[str, ...]
    output: str
    user: str
    target: str
    instructions: str  # the seed's system prompt, or DSPy's default when it has none
    default: str       # DSPy's default instructions: rendered as "no system message"

    def system(self, instructions: str) -> str:
        return "" if instructions == self.default else instructions

    def messages(self, instructions: str, demos: Sequence[Any],
                 inputs: Mapping[str, Any]) -> list[Message]:
        """The messages honed's engine renders for the same candidate and example."""
        out: list[Message] = []
        system = self.system(instructions)
        if system.strip():
            out.append(Message("system", render(system, _Lenient(inputs))))
        for demo in demos:
            data = _as_dict(demo)
            out.append(Message("user", render(self.user, _Lenient(data))))
            out.append(Message("assistant", str(data.get(self.output, ""))))
        out.append(Message("user", render(self.user, _Lenient(inputs))))
        return out

    def target_of(self, example: Example) -> str:
        try:
            return render(self.target, example.fields)
        except KeyError:
            return ""

    def key(self, data: Mapping[str, Any]) -> str:
        return canonical_json([_text(data.get(name)) for name in self.inputs])

    def example(self, dspy: Any, ex: Example) -> Any:
        values = {name: _text(ex.get(name)) for name in self.inputs}
        return dspy.Example(**values, **{self.output: self.target_of(ex), ID_FIELD: ex.id}
                            ).with_inputs(*self.inputs)


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def _as_dict(demo: Any) -> dict[str, Any]:
    return dict(demo.toDict()) if hasattr(demo, "toDict") else dict(demo)


def build_spec(dspy: Any, task: Task, seed: Candidate) -> tuple[_Spec, Any]:
    """The task's DSPy spec and signature (instructions = the seed's system prompt)."""
    target = task.target_template()
    inputs = tuple(dict.fromkeys(variables(seed.user) + variables(seed.system)))
    names = variables(target)
    output = names[0] if len(names) == 1 and target.strip() == "{" + names[0] + "}" else "answer"
    while output in inputs or output == ID_FIELD:
        output += "_"
    fields = {name: (str, dspy.InputField()) for name in inputs}
    fields[output] = (str, dspy.OutputField())
    try:
        default = dspy.Signature(dict(fields)).instructions
        signature = dspy.Signature(dict(fields), seed.system or default)
    except Exception as exc:
        raise ConfigError(f"the task does not fit a DSPy signature: {exc}", field="prompt",
                          fix="rename placeholders that clash with DSPy's names") from None
    spec = _Spec(inputs, output, seed.user, target, signature.instructions, default)
    return spec, signature


# --- the DSPy side: adapter, program, metric (classes built once DSPy is imported) -----------
_HEADER = re.compile(r"^\s*\[\[ ## \w+ ## \]\].*$", re.MULTILINE)


@functools.cache
def _dspy_classes() -> tuple[type, type, type]:
    dspy = load_dspy()
    from dspy.utils.exceptions import AdapterParseError

    class LenientChatAdapter(dspy.ChatAdapter):
        """DSPy's chat format for the optimizer's own calls (MIPROv2's proposer and dataset
        summaries), salvaging replies a small model did not format: when one text field is
        missing, the text before any field header (else the whole reply) becomes it."""

        def __init__(self) -> None:
            super().__init__(use_json_adapter_fallback=False)

        def parse(self, signature: Any, completion: str) -> dict[str, Any]:
            try:
                return dict(super().parse(signature, completion))
            except AdapterParseError as exc:
                parsed = dict(exc.parsed_result or {})
                missing = [k for k in signature.output_fields if k not in parsed]
                if len(missing) != 1 or signature.output_fields[missing[0]].annotation is not str:
                    raise
                preamble = _HEADER.split(completion, maxsplit=1)[0].strip()
                parsed[missing[0]] = preamble or _HEADER.sub("", completion).strip()
                return parsed

    class HonedAdapter(dspy.Adapter):
        """Renders honed's messages; the whole reply is the output field."""

        def __init__(self, spec: _Spec) -> None:
            super().__init__()
            self.spec = spec

        def format(self, signature: Any, demos: list[Any], inputs: dict[str, Any]) -> Any:
            return [m.to_dict() for m in self.spec.messages(signature.instructions, demos,
                                                            inputs)]

        def parse(self, signature: Any, completion: str) -> dict[str, Any]:
            return {self.spec.output: completion}

        def _call_postprocess(self, processed_signature: Any, original_signature: Any,
                              outputs: list[Any], lm: Any, lm_kwargs: Any) -> list[dict[str, Any]]:
            texts = [o.get("text") if isinstance(o, dict) else o for o in outputs]
            return [{self.spec.output: t or ""} for t in texts]  # empty is an answer too

        def __deepcopy__(self, memo: dict[int, Any]) -> HonedAdapter:
            return self

    class HonedProgram(dspy.Module):
        def __init__(self, runtime: _Runtime, signature: Any, demos: list[Any]) -> None:
            super().__init__()
            self.runtime = runtime
            self.predict = dspy.Predict(signature)
            self.predict.demos = list(demos)

        def forward(self, **inputs: Any) -> Any:
            rt = self.runtime
            rt.guard()
            instructions, demos = self.predict.signature.instructions, list(self.predict.demos)
            with dspy.context(adapter=rt.adapter):
                try:
                    prediction = self.predict(**inputs)
                except Exception as exc:
                    rt.guard(exc)
                    raise
            prediction._honed_key = rt.register(instructions, demos)
            prediction._honed_prompt = prompt_text(tuple(
                rt.spec.messages(instructions, demos, inputs)))
            return prediction

    return HonedAdapter, HonedProgram, LenientChatAdapter


@dataclass(eq=False)
class _Runtime:
    """What the DSPy thread shares with honed: the loop, scorers, servers, stop flag, tracking."""

    spec: _Spec
    loop: asyncio.AbstractEventLoop
    scorers: Sequence[Scorer]
    examples: Mapping[str, Example]
    val_ids: frozenset[str]
    servers: Sequence[ModelServer]
    allowance: Callable[[], int | None]
    adapter: Any = None
    stopped: str | None = None
    programs: dict[str, tuple[str, list[Any]]] = field(default_factory=dict)
    val_scores: dict[str, dict[str, float]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)
    on_val: Callable[[str], None] | None = None  # called once per program scored on all of val

    def __deepcopy__(self, memo: dict[int, Any]) -> _Runtime:
        return self  # DSPy deep-copies programs; they all share one runtime

    def guard(self, cause: BaseException | None = None) -> None:
        """Raise ``_Stop`` once the budget is spent (or the search was cancelled)."""
        if self.stopped is None:
            self.stopped = next((s.exhausted for s in self.servers if s.exhausted), None)
        if self.stopped is not None:
            raise _Stop(self.stopped) from cause

    def register(self, instructions: str, demos: list[Any]) -> str:
        shown = [[self.spec.key(_as_dict(d)), _text(_as_dict(d).get(self.spec.output))]
                 for d in demos]
        key = content_hash([instructions, shown])
        with self.lock:
            self.programs.setdefault(key, (instructions, list(demos)))
        return key

    def score(self, gold: Any, prediction: Any) -> tuple[float, bool, str]:
        """honed's evals on one DSPy prediction (run on honed's loop); tracks val scores."""
        self.guard()
        example = self.examples[gold[ID_FIELD]]
        text = _text(prediction.get(self.spec.output))
        prompt = getattr(prediction, "_honed_prompt", "")
        future = asyncio.run_coroutine_threadsafe(self._score(example, text, prompt), self.loop)
        try:
            score, passed, feedback = future.result()
        except BudgetExhausted as exc:
            self.stopped = self.stopped or exc.limit
            raise _Stop(exc.limit) from None
        key = getattr(prediction, "_honed_key", None)
        if key is not None and example.id in self.val_ids:
            with self.lock:
                scores = self.val_scores.setdefault(key, {})
                complete = example.id not in scores and len(scores) == len(self.val_ids) - 1
                scores[example.id] = score
            if complete and self.on_val is not None:
                self.on_val(key)
        return score, passed, feedback

    async def _score(self, example: Example, text: str, prompt: str) -> tuple[float, bool, str]:
        left = self.allowance()
        if left is not None and left <= 0 and any(_calls_model(s) for s in self.scorers):
            raise BudgetExhausted("max_calls", "no calls left for an LLM judge")
        ctx = EvalContext(example, text, prompt_text=prompt)
        evals: dict[str, EvalResult] = {}
        for scorer in self.scorers:
            try:
                evals[scorer.name] = await run_scorer(scorer, ctx)
            except BudgetExhausted:
                raise
            except Exception as exc:  # DSPy sees a failure; honed's verification records it
                evals[scorer.name] = EvalResult(0.0, False, f"raised {type(exc).__name__}: {exc}")
        score = weighted_score(evals, {s.name: s.weight for s in self.scorers})
        lines = [f"{name}: {r.feedback or ('passed' if r.passed else 'failed')}"
                 for name, r in evals.items()]
        return score, all(r.passed for r in evals.values()), "\n".join(lines)

    def best_seen(self) -> tuple[str, list[Any], float] | None:
        """The DSPy candidate with the best mean over the whole val split, if any."""
        full = [(sum(s.values()) / len(s), key) for key, s in self.val_scores.items()
                if len(s) == len(self.val_ids)]
        if not full:
            return None
        mean, key = max(full, key=lambda pair: pair[0])  # ties: the first seen
        return (*self.programs[key], mean)

    def val_mean(self, instructions: str, demos: list[Any]) -> float | None:
        scores = self.val_scores.get(self.register(instructions, demos), {})
        return sum(scores.values()) / len(scores) if len(scores) == len(self.val_ids) else None


def _calls_model(scorer: Scorer) -> bool:
    return hasattr(scorer, "model") or hasattr(scorer, "client")


class _Metric:
    """honed's evals as a DSPy metric. GEPA gets ``Prediction(score, feedback)``; bootstrapping
    (``trace`` given) gets pass/fail; evaluation gets the score."""

    def __init__(self, runtime: _Runtime, prediction: Any = None) -> None:
        self.runtime, self.prediction = runtime, prediction

    def __call__(self, gold: Any, pred: Any, trace: Any = None, pred_name: Any = None,
                 pred_trace: Any = None) -> Any:
        score, passed, feedback = self.runtime.score(gold, pred)
        if self.prediction is not None:
            return self.prediction(score=score, feedback=feedback)
        return passed if trace is not None else score

    def __deepcopy__(self, memo: dict[int, Any]) -> _Metric:
        return self


# --- quiet: DSPy logs, prints and draws progress bars; the library never prints -------------
class _ThreadFilter:
    """A stream that drops writes from the threads ``allowed`` rejects."""

    def __init__(self, stream: Any, allowed: Callable[[], bool]) -> None:
        self._stream, self._allowed = stream, allowed

    def write(self, text: str) -> int:
        return self._stream.write(text) if self._allowed() else len(text)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


@contextlib.contextmanager
def _quiet() -> Iterator[Callable[[], None]]:
    """Silence DSPy's loggers, and stdout/stderr writes from the DSPy worker (which calls the
    yielded ``claim``) and every thread started meanwhile. Other threads write as usual."""
    before = {t.ident for t in threading.enumerate()}
    claimed: set[int] = set()

    def allowed() -> bool:
        ident = threading.get_ident()
        return ident in before and ident not in claimed

    loggers = [logging.getLogger(name) for name in _QUIET_LOGGERS]
    levels = [lg.level for lg in loggers]
    streams = (sys.stdout, sys.stderr)
    sys.stdout, sys.stderr = _ThreadFilter(streams[0], allowed), _ThreadFilter(streams[1], allowed)
    for lg in loggers:
        lg.setLevel(logging.CRITICAL + 1)
    try:
        yield lambda: claimed.add(threading.get_ident())
    finally:
        for lg, level in zip(loggers, levels, strict=True):
            lg.setLevel(level)
        if isinstance(sys.stdout, _ThreadFilter):
            sys.stdout = streams[0]
        if isinstance(sys.stderr, _ThreadFilter):
            sys.stderr = streams[1]


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

    engine = ctx.engine
    async with ModelServer(engine.client, output=engine.output_spec(), quota=quota,
                           sample_seed=ctx.seed) as task_server, \
            ModelServer(ctx.reflection or engine.client, quota=quota,
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
        runtime = _Runtime(spec, asyncio.get_running_loop(), ctx.engine.scorers,
                           {ex.id: ex for ex in train + val}, frozenset(ex.id for ex in val),
                           servers, allowance)
        runtime.adapter = adapter_cls(spec)
        loop = asyncio.get_running_loop()
        runtime.on_val = lambda key: loop.call_soon_threadsafe(
            self._progress, ctx, seed, runtime, key)
        by_id = {ex.id: ex for ex in train}
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
        client = ctx.engine.client  # a batching model serves DSPy's threads in batches
        threads = self.num_threads or (MAX_THREADS if client.supports_batch
                                       else min(MAX_THREADS, max(1, client.concurrency)))
        setup = _Setup(dspy, runtime, program_cls(runtime, signature, demos),
                       [spec.example(dspy, ex) for ex in train],
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
        candidate, _ = to_candidate(rt.spec, seed, instructions, demos, ctx.examples("train"))
        ctx.progress(candidate, sum(scores.values()) / len(scores), len(scores),
                     phase=self.name, note="DSPy's own evaluation on val")

    async def _verify(self, ctx: SearchContext, seed: Candidate, rt: _Runtime,
                      instructions: str, demos: list[Any], plan: str) -> None:
        candidate, notes = to_candidate(rt.spec, seed, instructions, demos,
                                        ctx.examples("train"))
        dspy_val = rt.val_mean(instructions, demos)
        if dspy_val is not None:
            notes.append(f"DSPy val {dspy_val:.3f}")
        scored = await ctx.evaluate(candidate, "val", origin=self.name, parent=seed.id)
        better = ctx.best is None or scored.objective > ctx.best.objective
        note = "; ".join([plan, *notes]) if plan else "; ".join(notes)
        ctx.record(scored, accepted=better, phase=self.name, note=note)


def to_candidate(spec: _Spec, seed: Candidate, instructions: str, demos: Sequence[Any],
                 train: Sequence[Example]) -> tuple[Candidate, list[str]]:
    """DSPy's instructions and demos as a honed candidate; demos become train example ids."""
    by_id = {ex.id: ex for ex in train}
    by_inputs: dict[str, str] = {}
    for ex in train:
        by_inputs.setdefault(spec.key({n: ex.get(n) for n in spec.inputs}), ex.id)
    ids: list[str] = []
    dropped = replaced = 0
    for demo in demos:
        data = _as_dict(demo)
        found = data.get(ID_FIELD)
        if found not in by_id:
            found = by_inputs.get(spec.key(data))
        if found is None:
            dropped += 1
            continue
        if found in ids:
            continue
        if _text(data.get(spec.output)).strip() != spec.target_of(by_id[found]).strip():
            replaced += 1
        ids.append(found)
    system = (seed.system if instructions == spec.instructions
              else _escape_unknown(spec.system(instructions), set(spec.inputs)))
    notes = [f"{'new' if system != seed.system else 'seed'} instruction, {len(ids)} demos"]
    if dropped:
        notes.append(f"{dropped} demo(s) dropped: their inputs match no train example")
    if replaced:
        notes.append(f"{replaced} bootstrapped demo answer(s) shown as the train reference")
    return Candidate({**seed.components, "system": system}, tuple(ids)), notes


_PLACEHOLDER = re.compile(r"\{\{|\}\}|\{([A-Za-z_][A-Za-z0-9_]*)\}")


def _escape_unknown(text: str, known: set[str]) -> str:
    """``{word}`` that names no input field was literal text to DSPy: keep it literal (honed would
    fill it from the example, e.g. with the reference answer)."""
    def sub(match: re.Match[str]) -> str:
        name = match.group(1)
        return "{{" + name + "}}" if name and name not in known else match.group(0)

    return _PLACEHOLDER.sub(sub, text)


def _check_auto(owner: str, auto: str | None) -> None:
    if auto not in (None, "light", "medium", "heavy"):
        raise ConfigError(f"{owner}: unknown auto {auto!r}", field="auto",
                          fix="use light, medium or heavy")


class DspyMipro(_DspyOptimizer):
    """DSPy MIPROv2: bootstrapped demo sets x proposed instructions, searched with Optuna TPE.

    With a call budget, ``num_candidates`` and ``num_trials`` are sized to fit it (``auto``
    overrides); without one, ``auto="light"``.
    """

    name = "dspy:mipro"
    needs_optuna = True

    def __init__(self, *, auto: str | None = None, num_candidates: int | None = None,
                 num_trials: int | None = None, max_bootstrapped_demos: int = 4,
                 max_labeled_demos: int = 4, minibatch_size: int = 35,
                 data_aware: bool = True, num_threads: int | None = None) -> None:
        super().__init__(num_threads=num_threads)
        _check_auto(self.name, auto)
        if auto and (num_candidates or num_trials):
            raise ConfigError("dspy:mipro: give auto or num_candidates/num_trials, not both",
                              field="auto")
        self.auto, self.num_candidates, self.num_trials = auto, num_candidates, num_trials
        self.max_bootstrapped_demos, self.max_labeled_demos = (max_bootstrapped_demos,
                                                               max_labeled_demos)
        self.minibatch_size, self.data_aware = minibatch_size, data_aware

    def plan(self, budget: int | None, n_train: int, n_val: int, cpe: int) -> tuple[int, int]:
        """(num_candidates, num_trials): the ones given, else the most whose estimated calls
        fit ``budget`` (bootstrapping, proposals and trials; judges multiply evaluations)."""
        k = self.max_bootstrapped_demos or 3
        boot = min(n_train, 3 * k) * cpe
        summary = 2 + min(9, max(0, math.ceil(n_train / 10) - 1)) if self.data_aware else 0
        mb, full_every = min(self.minibatch_size, n_val), 5

        def cost(n: int, trials: int) -> int:
            evals = n_val + trials * mb + ((trials // full_every + 2) * n_val
                                           if n_val > mb else 0)
            return max(0, n - 2) * boot + summary + n + evals * cpe

        sizes = [self.num_candidates] if self.num_candidates else list(range(12, 2, -1))
        for n in sizes:
            trials = self.num_trials or int(max(4 * math.log2(n), 1.5 * n))
            if budget is None or cost(n, trials) <= budget:
                return n, trials
        n = sizes[-1]
        per_trial = (mb + (n_val / full_every if n_val > mb else 0)) * cpe
        spare = (budget or 0) - cost(n, 0)
        return n, self.num_trials or max(1, int(spare / per_trial))

    def compile(self, s: _Setup) -> tuple[Any, str]:
        sized = s.budget is not None or self.num_candidates or self.num_trials
        auto = self.auto or (None if sized else "light")
        n, trials = self.plan(s.budget, len(s.trainset), len(s.valset), s.calls_per_example)
        minibatch = len(s.valset) > self.minibatch_size
        optimizer = s.dspy.MIPROv2(
            s.metric, prompt_model=s.prompt_lm, task_model=s.task_lm,
            max_bootstrapped_demos=self.max_bootstrapped_demos,
            max_labeled_demos=self.max_labeled_demos, auto=auto,
            num_candidates=None if auto else n, num_threads=s.threads, seed=s.seed,
            verbose=False, track_stats=False)
        extra = {} if auto else {"num_trials": trials}
        program = optimizer.compile(
            s.student, trainset=s.trainset, valset=s.valset, seed=s.seed, minibatch=minibatch,
            minibatch_size=min(self.minibatch_size, len(s.valset)),
            program_aware_proposer=False, data_aware_proposer=self.data_aware, **extra)
        plan = f"auto={auto}" if auto else f"num_candidates={n}, num_trials={trials}"
        return program, plan


class DspyGepa(_DspyOptimizer):
    """DSPy GEPA: reflective instruction evolution on honed's eval feedback, Pareto selection.

    ``max_metric_calls`` comes from the budget (about 6/7 of it: the rest pays for reflection);
    a stop callback ends GEPA before an iteration the remaining budget could not finish.
    """

    name = "dspy:gepa"
    feedback_metric = True

    def __init__(self, *, auto: str | None = None, max_metric_calls: int | None = None,
                 reflection_minibatch_size: int = 3, use_merge: bool = True,
                 num_threads: int | None = None) -> None:
        super().__init__(num_threads=num_threads)
        _check_auto(self.name, auto)
        if auto and max_metric_calls:
            raise ConfigError("dspy:gepa: give auto or max_metric_calls, not both", field="auto")
        self.auto, self.max_metric_calls = auto, max_metric_calls
        self.minibatch, self.use_merge = reflection_minibatch_size, use_merge

    def compile(self, s: _Setup) -> tuple[Any, str]:
        cpe, n_val = s.calls_per_example, len(s.valset)
        budget: dict[str, Any] = {"auto": self.auto or "light"}
        if self.max_metric_calls is not None or (s.budget is not None and not self.auto):
            share = (s.budget or 0) * 2 * self.minibatch // ((2 * self.minibatch + 1) * cpe)
            budget = {"max_metric_calls": self.max_metric_calls or max(n_val, share)}
        margin = (n_val + 2 * self.minibatch) * cpe + 1  # one iteration, val included
        rt = s.runtime

        def stop(state: Any) -> bool:
            left = rt.allowance()
            return rt.stopped is not None or (left is not None and left < margin)

        optimizer = s.dspy.GEPA(
            metric=s.metric, reflection_lm=s.prompt_lm, reflection_minibatch_size=self.minibatch,
            use_merge=self.use_merge, num_threads=s.threads, seed=s.seed, track_stats=False,
            gepa_kwargs={"stop_callbacks": [stop]}, **budget)
        program = optimizer.compile(s.student, trainset=s.trainset, valset=s.valset)
        return program, ", ".join(f"{k}={v}" for k, v in budget.items())


class DspyBootstrapRS(_DspyOptimizer):
    """DSPy BootstrapFewShotWithRandomSearch: bootstrapped demo sets, the best on val wins.

    ``num_candidate_programs`` (besides zero-shot, labeled-only and unshuffled) fits the budget:
    each costs a bootstrap on train plus one val evaluation.
    """

    name = "dspy:bootstrap-rs"

    def __init__(self, *, num_candidate_programs: int | None = None,
                 max_bootstrapped_demos: int = 4, max_labeled_demos: int = 4,
                 num_threads: int | None = None) -> None:
        super().__init__(num_threads=num_threads)
        self.num_candidate_programs = num_candidate_programs
        self.max_bootstrapped_demos, self.max_labeled_demos = (max_bootstrapped_demos,
                                                               max_labeled_demos)

    def plan(self, budget: int | None, n_train: int, n_val: int, cpe: int) -> int:
        if self.num_candidate_programs is not None:
            return self.num_candidate_programs
        if budget is None:
            return 16
        boot = min(n_train, 3 * max(1, self.max_bootstrapped_demos))
        per = (boot + n_val) * cpe
        return max(0, min(16, (budget - 2 * n_val * cpe) // per - 1))

    def compile(self, s: _Setup) -> tuple[Any, str]:
        count = self.plan(s.budget, len(s.trainset), len(s.valset), s.calls_per_example)
        optimizer = s.dspy.BootstrapFewShotWithRandomSearch(
            s.metric, max_bootstrapped_demos=self.max_bootstrapped_demos,
            max_labeled_demos=self.max_labeled_demos, num_candidate_programs=count,
            num_threads=s.threads)
        program = optimizer.compile(s.student, trainset=s.trainset, valset=s.valset)
        return program, f"num_candidate_programs={count}"
