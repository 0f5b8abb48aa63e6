"""A registered prompt, ready for an application: ``load_prompt("name@alias")``.

``Prompt.render(**inputs)`` gives the chat messages (system, the few-shot demos as user and
assistant turns, then the input), exactly as honed evaluated them; ``Prompt.format(**inputs)``
gives the same as one text, for completion-style APIs.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

from honed.engine.session import honed_home
from honed.errors import AuthError, ConfigError, TransportError
from honed.lifecycle.registry import DEMO_TARGET_TAG, PromptRegistry, PromptVersion, require_ref
from honed.task.render import render_messages
from honed.task.template import variables
from honed.types import Candidate, Example


@dataclass(frozen=True)
class Prompt:
    """One version of a registered prompt."""

    name: str
    version: int
    candidate: Candidate
    demos: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    demo_target: str | None = None
    aliases: tuple[str, ...] = ()
    tags: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def from_version(cls, version: PromptVersion) -> Prompt:
        return cls(version.name, version.version, version.candidate, dict(version.demo_rows),
                   version.tags.get(DEMO_TARGET_TAG), version.aliases, dict(version.tags))

    @property
    def system(self) -> str:
        return self.candidate.system

    @property
    def user(self) -> str:
        return self.candidate.user

    @property
    def variables(self) -> list[str]:
        """The inputs ``render`` needs."""
        return list(dict.fromkeys(variables(self.system) + variables(self.user)))

    def render(self, **inputs: Any) -> list[dict[str, str]]:
        """The chat messages for ``inputs`` (``[{"role": ..., "content": ...}, ...]``)."""
        missing = [v for v in self.variables if v not in inputs]
        if missing:
            raise ConfigError(f"prompt {self.name}/{self.version} needs "
                              f"{', '.join(map(repr, missing))}", field="inputs",
                              fix=f"pass {', '.join(f'{v}=...' for v in missing)}")
        demos = {d: Example(d, dict(fields)) for d, fields in self.demos.items()}
        unknown = [d for d in self.candidate.demos if d not in demos]
        if unknown or (self.candidate.demos and self.demo_target is None):
            raise ConfigError(f"prompt {self.name}/{self.version} names demos whose rows or "
                              f"answer template were not registered with it",
                              fix="register it again with a current honed (honed optimize "
                                  "or honed registry register)")
        messages = render_messages(self.candidate, Example("input", dict(inputs)), demos,
                                   self.demo_target or "")
        return [m.to_dict() for m in messages]

    def format(self, **inputs: Any) -> str:
        """The prompt as one text: the system prompt, the demos and the input, blank-line
        separated."""
        return "\n\n".join(m["content"] for m in self.render(**inputs) if m["content"])


def load_prompt(ref: str, *, home: str | Path | None = None,
                registry: PromptRegistry | None = None, url: str | None = None,
                key: str | None = None, ttl_s: float = 60.0) -> Prompt:
    """The registered prompt ``NAME@ALIAS`` or ``NAME/VERSION`` (registry: ``HONED_REGISTRY``
    under ``home``, default ``$HONED_HOME``).

    With ``url`` (a ``honed serve`` server) and ``key`` (a ``serve`` key), it is read through
    the server instead, and kept for ``ttl_s`` seconds: a later call within that time makes no
    request, and one that cannot reach the server falls back on the last copy it had.
    """
    if url is not None:
        return _remote(ref, url.rstrip("/"), key, ttl_s)
    if registry is None:
        from honed.lifecycle.registries import open_registry

        registry = open_registry(Path(home) if home is not None else honed_home())
    return Prompt.from_version(registry.get(require_ref(ref, "prompt")))


def prompt_payload(prompt: Prompt) -> dict[str, Any]:
    """A prompt as JSON (what ``GET /v1/prompts/REF`` answers); ``prompt_from_payload``
    rebuilds the same ``Prompt``."""
    return {"name": prompt.name, "version": prompt.version,
            "template": dict(prompt.candidate.components), "demos": list(prompt.candidate.demos),
            "demo_rows": {k: dict(v) for k, v in prompt.demos.items()},
            "demo_target": prompt.demo_target, "aliases": list(prompt.aliases),
            "tags": dict(prompt.tags), "variables": prompt.variables}


def prompt_from_payload(data: Mapping[str, Any]) -> Prompt:
    """The ``Prompt`` that ``prompt_payload`` wrote."""
    try:
        candidate = Candidate(dict(data["template"]), tuple(data.get("demos") or ()))
        return Prompt(str(data["name"]), int(data["version"]), candidate,
                      {k: dict(v) for k, v in (data.get("demo_rows") or {}).items()},
                      data.get("demo_target"), tuple(data.get("aliases") or ()),
                      dict(data.get("tags") or {}))
    except (KeyError, TypeError, ValueError) as exc:
        raise ConfigError(f"the server's prompt is malformed ({exc!r})", field="prompt",
                          fix="check that the URL is a honed server of the same version"
                          ) from None


_REMOTE: dict[tuple[str, str, str | None], tuple[float, Prompt]] = {}
_REMOTE_LOCK = threading.Lock()


def _remote(ref: str, url: str, key: str | None, ttl_s: float) -> Prompt:
    slot = (url, ref, key)
    with _REMOTE_LOCK:
        held = _REMOTE.get(slot)
    if held is not None and time.monotonic() - held[0] < ttl_s:
        return held[1]
    try:
        prompt = prompt_from_payload(fetch_prompt(url, key, ref))
    except TransportError:
        if held is None:
            raise
        return held[1]  # the server is unreachable: the last copy is better than nothing
    with _REMOTE_LOCK:
        _REMOTE[slot] = (time.monotonic(), prompt)
    return prompt


def fetch_prompt(url: str, key: str | None, ref: str, *, client: Any = None,
                 timeout_s: float = 10.0) -> dict[str, Any]:
    """``GET URL/v1/prompts/REF`` as JSON. 404 and 422 are ConfigErrors naming the prompt,
    401/403 an AuthError, no answer a TransportError (``client``: an ``httpx.Client``)."""
    try:
        import httpx
    except ImportError:  # pragma: no cover - httpx ships with the serve extra
        raise ConfigError("reading prompts through a server needs httpx",
                          fix="pip install 'honed[serve]'") from None
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    quoted = quote(ref.strip(), safe="@/")
    try:
        if client is not None:
            response = client.get(f"/v1/prompts/{quoted}", headers=headers)
        else:
            response = httpx.get(f"{url}/v1/prompts/{quoted}", headers=headers, timeout=timeout_s)
    except httpx.HTTPError as exc:
        raise TransportError(f"cannot reach the honed server at {url}: {exc}") from None
    if response.status_code == 200:
        return dict(response.json())
    message = error_message(response)
    if response.status_code in (401, 403):
        raise AuthError(f"the honed server refused the key: {message}",
                        status=response.status_code)
    if response.status_code in (404, 422):
        raise ConfigError(message, field=ref, fix="list the prompts with `honed registry list`")
    raise TransportError(f"the honed server answered {response.status_code}: {message}",
                         status=response.status_code)


def error_message(response: Any) -> str:
    """The message of a honed server's error answer (``{"error": {"message": ...}}``)."""
    try:
        return str(response.json()["error"]["message"])
    except (ValueError, KeyError, TypeError):
        return response.text[:200] or f"HTTP {response.status_code}"
