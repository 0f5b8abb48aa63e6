"""FakeModel: a scripted model shipped in the package, the public test seam.

Spec strings (``model: fake...`` in a task, ``--model`` on the CLI):

- ``fake``                  echo the last user message
- ``fake:answer=TEXT``      always answer TEXT
- ``fake:file=PATH``        JSON object or JSONL rows ``{"input": ..., "output": ...}``: answer the
                            output whose input equals (else is contained in) the last user message
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from honed.errors import ConfigError
from honed.providers.base import Completion, Request, count_tokens
from honed.types import Usage

Script = Callable[[Request], str] | Mapping[str, str] | str | None


def last_user(request: Request) -> str:
    return next((m.content for m in reversed(request.messages) if m.role == "user"), "")


class FakeModel:
    """Deterministic scripted model. ``script`` is a callable, a mapping or a constant answer.

    ``latency_s`` simulates time per call; ``calls`` records every request it received.
    """

    constrains_output = False

    def __init__(self, script: Script = None, *, spec: str = "fake", latency_s: float = 0.0,
                 default: str = "", concurrency: int = 16,
                 cost_per_call: float = 0.0) -> None:
        self.spec, self.latency_s, self.default = spec, latency_s, default
        self.default_concurrency = concurrency
        self.cost_per_call = cost_per_call
        self._script = script
        self.calls: list[Request] = []

    def answer(self, request: Request) -> str:
        script, prompt = self._script, last_user(request)
        if script is None:
            return prompt
        if isinstance(script, str):
            return script
        if callable(script):
            return script(request)
        if prompt in script:
            return script[prompt]
        return next((out for key, out in script.items() if key and key in prompt), self.default)

    async def complete(self, request: Request) -> Completion:
        self.calls.append(request)
        if self.latency_s:
            await asyncio.sleep(self.latency_s)
        text = self.answer(request)
        prompt_tokens = sum(count_tokens(m.content) for m in request.messages)
        return Completion(text, Usage(prompt_tokens, count_tokens(text)), self.latency_s,
                          self.cost_per_call, "stop")

    async def aclose(self) -> None:
        return None


class FakeBatchModel(FakeModel):
    """A FakeModel that also completes many requests in one call, like the embedded model;
    ``batches`` records each batch's size."""

    supports_batch = True

    def __init__(self, script: Script = None, **options: Any) -> None:
        super().__init__(script, **options)
        self.batches: list[int] = []

    async def complete_batch(self, requests: Sequence[Request], on_done: Any = None,
                             ) -> list[Completion]:
        """One by one; ``on_done(index, completion)`` as each finishes, as the embedded model
        reports its rows."""
        self.batches.append(len(requests))
        done = []
        for index, request in enumerate(requests):
            done.append(await self.complete(request))
            if on_done is not None:
                on_done(index, done[-1])
        return done


def _load_script(path: Path) -> dict[str, str]:
    if not path.exists():
        raise ConfigError("fake model script not found", file=str(path))
    text = path.read_text(encoding="utf-8")
    try:
        if path.suffix == ".jsonl":
            rows = [json.loads(line) for line in text.splitlines() if line.strip()]
            return {str(r["input"]): str(r["output"]) for r in rows}
        data = json.loads(text)
    except (json.JSONDecodeError, KeyError, TypeError) as exc:
        raise ConfigError(f"invalid fake model script: {exc}", file=str(path)) from None
    if not isinstance(data, dict):
        raise ConfigError("a fake model script must be a JSON object", file=str(path))
    return {str(k): str(v) for k, v in data.items()}


def from_spec(spec: str, base_dir: Path | None = None) -> FakeModel:
    rest = spec.partition(":")[2]
    if not rest:
        return FakeModel(spec=spec)
    key, _, value = rest.partition("=")
    if key == "answer":
        return FakeModel(value, spec=spec)
    if key == "file":
        path = Path(value) if base_dir is None else base_dir / value
        return FakeModel(_load_script(path), spec=spec)
    raise ConfigError(f"unknown fake model option {key!r}", field="model",
                      fix="use fake, fake:answer=TEXT or fake:file=PATH")
