"""A report from what the user typed: one run (an id, a prefix, ``latest``, or a registry
version an optimization registered), or two or more runs and versions to compare."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from honed.errors import ConfigError
from honed.lifecycle.registry import PromptRegistry, parse_ref
from honed.lifecycle.report.compare import compare_report
from honed.lifecycle.report.data import CompareReport, RunReport
from honed.lifecycle.report.run import RUN_ID_TAG, run_report
from honed.lifecycle.report.taskdata import TaskLoader
from honed.tracking.store import RunStore


def build_report(specs: Sequence[str], home: Path) -> RunReport | CompareReport:
    """The report of ``specs`` from the run store and the prompt registry under ``home``.
    Task files recorded with a relative path are looked up here, then beside ``home``."""
    from honed.lifecycle.specs import LazyRegistry

    if not specs:
        raise ConfigError("name a run to report on", field="SPEC",
                          fix="give a run id (see `honed runs list`) or latest")
    tasks = TaskLoader([home.resolve().parent])
    path = home / "runs.sqlite"
    store = RunStore(path) if path.exists() else None
    registry: Any = LazyRegistry(home) if _has_registry(home) else None  # a PromptRegistry
    try:
        if len(specs) > 1:
            return compare_report(specs, store=store, registry=registry, tasks=tasks)
        run = run_of(specs[0], registry)
        if store is None:
            raise ConfigError(f"no run {run!r}: there is no run store in {home}",
                              fix="run `honed optimize` first, or point HONED_HOME at the "
                                  "folder that holds runs.sqlite")
        return run_report(store, run, tasks=tasks, registry=registry)
    finally:
        if store is not None:
            store.close()


def _has_registry(home: Path) -> bool:
    """Is there a registry to read (the local one is a file; never create it for a report)?"""
    from honed.lifecycle.registry import registry_backend

    return registry_backend() != "local" or (home / "registry.sqlite").exists()


def run_of(spec: str, registry: PromptRegistry | None) -> str:
    """The run a spec names: itself, or for a registry version the run that registered it."""
    ref = parse_ref(spec)
    if ref is None:
        return spec
    if registry is None:
        raise ConfigError(f"{spec!r} is a registry reference and there is no prompt registry "
                          "here", field="SPEC", fix="check HONED_HOME, or give a run id")
    run = registry.get(ref).tags.get(RUN_ID_TAG)
    if not run:
        raise ConfigError(f"{spec} was not registered by an optimization run, so it has no "
                          "run report", field="SPEC",
                          fix=f"compare it with another prompt: honed report {spec} OTHER")
    return str(run)
