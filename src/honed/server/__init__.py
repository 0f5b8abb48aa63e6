"""``honed serve``: registered prompts over HTTP (FastAPI), with keys, limits, a production log
and Prometheus metrics. An edge: every request becomes lifecycle and engine calls and a log row.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__all__ = ["create_app"]

if TYPE_CHECKING:
    from honed.server.app import create_app


def __getattr__(name: str) -> Any:
    if name == "create_app":
        from honed.server.app import create_app

        return create_app
    raise AttributeError(name)
