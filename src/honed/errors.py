"""The one exception tree of honed.

Per-example failures are data (see ``engine.results``); only systemic failures raise::

    HonedError
    ├── ConfigError            bad task file, flag or field (CLI exit 2)
    │   └── DatasetError       missing, malformed, empty or non-UTF-8 data (CLI exit 2)
    ├── ProviderError          a model call failed (after retries, where retryable)
    │   ├── AuthError          missing or rejected credentials (never retried)
    │   ├── RateLimitError     429 / overloaded (retried, honouring Retry-After)
    │   ├── TransportError     timeouts, connection errors, 5xx (retried)
    │   └── BadResponseError   a 200 we cannot use: not JSON, no choices, no content (retried)
    ├── BudgetExhausted        a Budget limit was reached; work done so far is kept
    └── GateFailed             a quality gate failed (CLI exit 1, or 3 for BLOCK_DEPLOY)
"""

from __future__ import annotations


class HonedError(Exception):
    """Base of every error honed raises on purpose."""


class ConfigError(HonedError):
    """Invalid user input. The message names the culprit (file, line or field) and the fix."""

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        field: str | None = None,
        line: int | None = None,
        fix: str | None = None,
    ) -> None:
        self.file, self.field, self.line, self.fix = file, field, line, fix
        super().__init__(message)

    def __str__(self) -> str:
        where = self.file or ""
        if self.line is not None:
            where += f":{self.line}"
        if self.field:
            where += f" ({self.field})" if where else self.field
        text = f"{where}: {self.args[0]}" if where else str(self.args[0])
        return f"{text}\n  fix: {self.fix}" if self.fix else text


class DatasetError(ConfigError):
    """A dataset file is missing, malformed, empty or not UTF-8."""


class ProviderError(HonedError):
    """A model call failed. ``retryable`` tells the engine whether to try again."""

    retryable = False

    def __init__(self, message: str, *, status: int | None = None,
                 retry_after: float | None = None) -> None:
        self.status, self.retry_after = status, retry_after
        super().__init__(message)


class AuthError(ProviderError):
    """Credentials are missing or were rejected."""


class RateLimitError(ProviderError):
    retryable = True


class TransportError(ProviderError):
    retryable = True


class BadResponseError(ProviderError):
    """The provider answered, but not with something we can use (a body that is not JSON, no
    choices, missing or mistyped content). Retried like a 5xx: such answers are usually a
    proxy's or a overloaded server's, and the next try tends to succeed."""

    retryable = True


class BudgetExhausted(HonedError):
    """A budget limit was reached. ``limit`` names it (e.g. ``max_calls``)."""

    def __init__(self, limit: str, detail: str = "") -> None:
        self.limit = limit
        super().__init__(f"budget exhausted: {limit}" + (f" ({detail})" if detail else ""))


class GateFailed(HonedError):
    """A quality gate failed."""
