"""Executors: where an evaluation's model calls run (``local``, or Ray actors: ``ray``).

``open_executor(spec)`` turns a spec string (``--executor``, a task's ``executor:``, the Python
API's ``executor=``) into an ``Executor``; see ``base`` for the grammar and the protocol. Ray is
imported only when a ``ray`` executor is opened.
"""

from __future__ import annotations

from honed.engine.executors.base import Executor, ExecutorSpec, parse_executor
from honed.engine.executors.local import LocalExecutor

__all__ = ["Executor", "ExecutorSpec", "LocalExecutor", "check_executor", "open_executor",
           "parse_executor"]


def open_executor(text: str | None, *, field: str = "--executor",
                  file: str | None = None) -> Executor:
    """The executor a spec names (None or ``local``: this process). A ``ray`` spec connects
    to the cluster now; without Ray installed it is a ConfigError saying what to install."""
    spec = parse_executor(text, field=field, file=file)
    if spec.local:
        return LocalExecutor()
    from honed.engine.executors.ray import RayExecutor

    return RayExecutor(spec, field=field)


def check_executor(text: str | None, *, field: str = "--executor",
                   file: str | None = None) -> ExecutorSpec:
    """Validate a spec before any work starts: its form, and that Ray is installed when it
    names Ray (nothing is connected yet)."""
    spec = parse_executor(text, field=field, file=file)
    if not spec.local:
        from honed.engine.executors.ray import require_ray

        require_ray(field)
    return spec
