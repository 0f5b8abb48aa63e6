"""Silencing DSPy: its loggers, and what its worker thread writes to stdout and stderr."""

from __future__ import annotations

import contextlib
import logging
import sys
import threading
from collections.abc import Callable, Iterator
from typing import Any

_QUIET_LOGGERS = ("dspy", "gepa", "optuna", "LiteLLM", "litellm", "httpx", "lm15")


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
