"""``honed.client.Client``: a Python client for a ``honed serve`` server.

    from honed.client import Client

    client = Client("http://127.0.0.1:8765", key="hnd_...")
    answer = client.complete("sentiment@production", text="Where is my card?")
    client.feedback(answer["id"], score=1.0)
    prompt = client.prompt("sentiment@production")     # a honed.Prompt, as load_prompt gives

Errors come back as honed's own: ConfigError (404 / 422), AuthError (401 / 403), RateLimitError
(429, with ``retry_after``), TransportError (no answer, 5xx).
"""

from __future__ import annotations

from typing import Any

from honed.errors import AuthError, ConfigError, RateLimitError, TransportError
from honed.lifecycle.prompt import Prompt, error_message, fetch_prompt, prompt_from_payload


class Client:
    """Calls a honed server with one key (``httpx``; a connection pool per client)."""

    def __init__(self, url: str, key: str, *, timeout_s: float = 60.0,
                 transport: Any = None) -> None:
        try:
            import httpx
        except ImportError:  # pragma: no cover - httpx ships with the serve extra
            raise ConfigError("the honed client needs httpx",
                              fix="pip install 'honed[serve]'") from None
        self.url, self.key = url.rstrip("/"), key
        self._http = httpx.Client(base_url=self.url, timeout=timeout_s, transport=transport,
                                  headers={"Authorization": f"Bearer {key}"})

    def complete(self, prompt: str, *, user_id: str | None = None,
                 metadata: dict[str, Any] | None = None, **inputs: Any) -> dict[str, Any]:
        """Run the registered prompt ``prompt`` (``NAME@ALIAS`` or ``NAME/VERSION``) on
        ``inputs``: ``{id, output, prompt, version, latency_s, input_tokens, output_tokens,
        cost_usd}``."""
        return self._post("/v1/complete", {"prompt": prompt, "inputs": inputs,
                                           "user_id": user_id, "metadata": metadata or {}})

    def feedback(self, request_id: str, *, score: float | None = None, label: str | None = None,
                 correction: str | None = None, comment: str | None = None) -> dict[str, Any]:
        """Attach a score, a label or a correction (and a comment) to a served request."""
        return self._post("/v1/feedback", {"request_id": request_id, "score": score,
                                           "label": label, "correction": correction,
                                           "comment": comment})

    def prompt(self, ref: str) -> Prompt:
        """The registered prompt ``ref`` as the server has it."""
        return prompt_from_payload(fetch_prompt(self.url, self.key, ref, client=self._http))

    def _post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        import httpx

        try:
            response = self._http.post(path, json=body)
        except httpx.HTTPError as exc:
            raise TransportError(f"cannot reach the honed server at {self.url}: {exc}") from None
        if response.status_code == 200:
            return dict(response.json())
        raise _error(response)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


def _error(response: Any) -> Exception:
    status, message = response.status_code, error_message(response)
    if status in (401, 403):
        return AuthError(f"the honed server refused the key: {message}", status=status)
    if status == 429:
        wait = response.headers.get("retry-after")
        return RateLimitError(message, status=status,
                              retry_after=float(wait) if wait and wait.isdigit() else None)
    if status in (400, 404, 413, 422):
        return ConfigError(message, fix=f"the server answered {status}")
    return TransportError(f"the honed server answered {status}: {message}", status=status)
