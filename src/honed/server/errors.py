"""HTTP errors of the server, in OpenAI's error shape: ``{"error": {"message", "type", "code"}}``.

Messages are written for the caller; tracebacks and provider keys never reach a response (an
unexpected failure is logged and answered with a generic 500).
"""

from __future__ import annotations

from collections.abc import Mapping

from honed.errors import ConfigError

TYPES = {400: "invalid_request_error", 401: "authentication_error", 403: "permission_error",
         404: "not_found_error", 413: "request_too_large", 422: "invalid_request_error",
         429: "rate_limit_error", 502: "api_error", 503: "api_error", 500: "api_error"}


class ApiError(Exception):
    """An answer other than 2xx, with a message safe to show the caller."""

    def __init__(self, status: int, message: str, *, code: str | None = None,
                 headers: Mapping[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.code = status, message, code
        self.headers = dict(headers or {})

    def body(self) -> dict[str, object]:
        return {"error": {"message": self.message, "type": TYPES.get(self.status, "api_error"),
                          "code": self.code}}


def describe(exc: ConfigError) -> str:
    """A ConfigError as one line: its message, then its fix."""
    text = str(exc.args[0]) if exc.args else str(exc)
    return f"{text} ({exc.fix})" if exc.fix else text
