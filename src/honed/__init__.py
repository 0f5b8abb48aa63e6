"""honed: eval-driven automatic prompt optimization.

The public surface (see docs/api.md) is small and lazy: importing ``honed`` loads no heavy
dependency.

    import honed

    task = honed.load_task("task.yaml")
    run = honed.evaluate(task, split="val")          # typed results, nothing printed
    result = honed.optimize(task, max_calls=300)     # proven on held-out test, registered
    prompt = honed.load_prompt("task-name@candidate")
    messages = prompt.render(text="...")             # or prompt.format(text="...")
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

__all__ = ["Candidate", "Example", "Prompt", "Task", "__version__", "evaluate",
           "evaluate_async", "load_prompt", "load_task", "optimize", "optimize_async"]

if TYPE_CHECKING:
    from honed.api import (
        Prompt,
        evaluate,
        evaluate_async,
        load_prompt,
        load_task,
        optimize,
        optimize_async,
    )
    from honed.task.task import Task
    from honed.types import Candidate, Example

_API = {"Prompt", "evaluate", "evaluate_async", "load_prompt", "optimize", "optimize_async"}


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
    if name in _API:
        from honed import api

        return getattr(api, name)
    raise AttributeError(name)
