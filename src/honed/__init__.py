"""honed: eval-driven automatic prompt optimization.

The public surface is small and lazy: importing ``honed`` loads no heavy dependency.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

__all__ = ["Candidate", "Example", "Task", "__version__", "load_task"]

if TYPE_CHECKING:
    from honed.task.config import load_task
    from honed.task.task import Task
    from honed.types import Candidate, Example


def __getattr__(name: str) -> Any:
    if name in ("Candidate", "Example"):
        from honed import types

        return getattr(types, name)
    if name == "Task":
        from honed.task.task import Task

        return Task
    if name == "load_task":
        from honed.task.config import load_task

        return load_task
    raise AttributeError(name)
