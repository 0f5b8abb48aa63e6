"""Resolve a prompt SPEC to the task it runs in and the candidate it names.

A SPEC is one of:

- a task file (``task.yaml``): its own prompt (or its ``prompt.registry`` reference);
- a registry reference, ``NAME@ALIAS`` or ``NAME/VERSION``: data, evals and model come from a
  base task (``--task``);
- a run id from the run store: the best candidate of that run, in the run's task (or the base
  task when one is given).

The registry and the run store are passed in explicitly; ``needs`` tells a caller which of them
a spec will touch, so it opens only those.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from honed.errors import ConfigError
from honed.lifecycle.registry import PromptRef, PromptRegistry, PromptVersion, parse_ref
from honed.task.config import load_task
from honed.task.task import Task
from honed.tracking.store import RunRow, RunStore
from honed.types import Candidate, Example

Kind = Literal["file", "registry", "run"]
_YAML = (".yaml", ".yml")
_FIX = "give a task file (task.yaml), NAME@ALIAS, NAME/VERSION or a run id (honed runs list)"


@dataclass(frozen=True)
class Resolved:
    """What a spec names: the candidate, the task to evaluate it in, and where it came from."""

    spec: str
    kind: Kind
    task: Task
    candidate: Candidate
    label: str
    meta: Mapping[str, Any] = field(default_factory=dict)
    demos: Mapping[str, Example] = field(default_factory=dict)  # a registry version's rows

    def to_dict(self) -> dict[str, Any]:
        return {"spec": self.spec, "kind": self.kind, "label": self.label,
                "task": self.task.name, "candidate_id": self.candidate.id, **self.meta}


def kind_of(spec: str) -> Kind:
    """Classify a spec without opening anything: an existing file or ``*.yaml`` is a file,
    then a registry reference, else a run id."""
    text = spec.strip()
    if not text:
        raise ConfigError("empty prompt spec", fix=_FIX)
    if Path(text).is_file() or text.endswith(_YAML):
        return "file"
    if parse_ref(text) is not None:
        return "registry"
    return "run"


def needs(spec: str) -> set[str]:
    """Which sources resolving ``spec`` touches: ``{"registry"}``, ``{"store"}`` or none."""
    kind = kind_of(spec)
    if kind == "registry":
        return {"registry"}
    if kind == "run":
        return {"store"}
    return {"registry"} if load_task(spec).prompt.registry else set()


def resolve_spec(spec: str, *, registry: PromptRegistry | None = None,
                 store: RunStore | None = None, base_task: Task | None = None) -> Resolved:
    """A spec -> Resolved. Raises ConfigError naming the spec and the fix when it cannot."""
    text = spec.strip()
    kind = kind_of(text)
    if kind == "file":
        return _from_file(text, registry, base_task)
    ref = parse_ref(text)
    if kind == "registry" and ref is not None:
        if base_task is None:
            raise ConfigError(f"{text!r} is a registry reference: it names a prompt, not the "
                              "data and evals to run it on", field="--task",
                              fix="pass --task TASK.yaml")
        return _from_registry(text, ref, _need(registry, "prompt registry", text), base_task)
    if store is None:
        raise ConfigError(f"{text!r} is not a task file, a prompt reference or a known run id "
                          "(no run store: no optimization has been recorded here)", fix=_FIX)
    return _from_run(text, store, base_task)


def _need(source: Any, what: str, spec: str) -> Any:
    if source is None:
        raise ConfigError(f"resolving {spec!r} needs the {what}, and none was opened",
                          fix=_FIX)
    return source


def _from_file(text: str, registry: PromptRegistry | None, base_task: Task | None) -> Resolved:
    path = Path(text)
    if not path.is_file():
        raise ConfigError("task file not found", file=text, fix=_FIX)
    own = load_task(path)
    task = base_task or own
    ref_text = own.prompt.registry
    if ref_text:
        ref = parse_ref(ref_text)
        if ref is None:
            raise ConfigError(f"{ref_text!r} is not a prompt reference", file=text,
                              field="prompt.registry", fix="use NAME@ALIAS or NAME/VERSION")
        version = _need(registry, "prompt registry", ref_text).get(ref)
        return Resolved(text, "file", task, version.candidate,
                        f"{text} -> {ref} (v{version.version})",
                        {"registry": str(ref), "name": version.name,
                         "version": version.version}, version_demos(version))
    return Resolved(text, "file", task, own.seed_candidate(), text, {"file": str(path)})


def _from_registry(text: str, ref: PromptRef, registry: PromptRegistry,
                   base_task: Task) -> Resolved:
    version = registry.get(ref)
    label = str(ref) if ref.version is not None else f"{ref} (v{version.version})"
    return Resolved(text, "registry", base_task, version.candidate, label,
                    {"registry": f"{version.name}/{version.version}", "name": version.name,
                     "version": version.version, "backend": registry.backend},
                    version_demos(version))


def version_demos(version: Any) -> dict[str, Example]:
    """A registry version's demo rows as examples (empty for versions stored without them)."""
    rows = getattr(version, "demo_rows", None) or {}
    return {d: Example(d, dict(fields)) for d, fields in rows.items()}


def _from_run(run_id: str, store: RunStore, base_task: Task | None) -> Resolved:
    from honed.tracking.run_ids import resolve_run

    row = resolve_run(store, run_id)
    if row is None:
        raise ConfigError(f"{run_id!r} is not a task file, a prompt reference or a known run id",
                          fix=_FIX)
    best = (row.result or {}).get("best")
    if not best:
        raise ConfigError(f"run {run_id} has no result yet (status: {row.status})",
                          fix=f"wait for it to finish, or resume it: honed optimize "
                              f"{row.task_path or 'TASK.yaml'} --resume")
    candidate = _best_candidate(store, row, best)
    task = base_task or _run_task(row)
    test = best.get("test") or {}
    meta = {"run_id": row.id, "run_model": row.config.get("model"),
            "run_test_score": test.get("score"), "run_val_score": (best.get("val") or {})
            .get("score")}
    return Resolved(run_id, "run", task, candidate,
                    f"run {row.id} best ({candidate.id[:8]})", meta)


def _best_candidate(store: RunStore, row: RunRow, best: Mapping[str, Any]) -> Candidate:
    candidate_id = best.get("candidate_id")
    stored = store.candidate(row.id, candidate_id) if candidate_id else None
    if stored is not None:
        return stored
    prompt = best.get("prompt")
    if not prompt:
        raise ConfigError(f"run {row.id} records no best prompt", fix="re-run the optimization")
    components = {"system": prompt.get("system", ""), "user": prompt.get("user", "{text}"),
                  **prompt.get("components", {})}
    return Candidate(components, tuple(prompt.get("demos", ())))


def _run_task(row: RunRow) -> Task:
    if not row.task_path or not Path(row.task_path).is_file():
        raise ConfigError(f"the task file of run {row.id} ({row.task_path or 'unknown'}) is "
                          "gone", field="--task", fix="pass --task TASK.yaml")
    return load_task(row.task_path)


class LazyRegistry:
    """A PromptRegistry opened on first use: opening MLflow's costs seconds, and a spec that
    fails for another reason (no ``--task``) should not pay for it."""

    def __init__(self, home: Path) -> None:
        self._home, self._registry = home, None

    def _open(self) -> PromptRegistry:
        if self._registry is None:
            from honed.lifecycle.registries import open_registry

            self._registry = open_registry(self._home)
        return self._registry

    @property
    def backend(self) -> str:
        return self._open().backend

    def register(self, name: str, candidate: Candidate, *,
                 tags: Mapping[str, str] | None = None) -> PromptVersion:
        return self._open().register(name, candidate, tags=tags)

    def get(self, ref: PromptRef) -> PromptVersion:
        return self._open().get(ref)

    def versions(self, name: str) -> list[PromptVersion]:
        return self._open().versions(name)

    def names(self) -> list[str]:
        return self._open().names()

    def set_alias(self, name: str, alias: str, version: int) -> None:
        self._open().set_alias(name, alias, version)

    def set_tags(self, name: str, version: int, tags: Mapping[str, str]) -> None:
        self._open().set_tags(name, version, tags)

    def aliases(self, name: str) -> dict[str, int]:
        return self._open().aliases(name)


@dataclass(frozen=True)
class Sources:
    """The registry and run store that specs resolve against (None: not needed, not opened)."""

    registry: PromptRegistry | None = None
    store: RunStore | None = None


@contextmanager
def open_sources(specs: Iterable[str | None], home: Path | None = None) -> Iterator[Sources]:
    """What ``specs`` need: the prompt registry (opened on first use), the run store, or
    neither."""
    from honed.engine.session import honed_home

    wanted: set[str] = set()
    for spec in specs:
        if spec:
            wanted |= needs(spec)
    root = home or honed_home()
    path = root / "runs.sqlite"
    store = RunStore(path) if "store" in wanted and path.exists() else None
    registry = LazyRegistry(root) if "registry" in wanted else None
    try:
        yield Sources(registry, store)
    finally:
        if store is not None:
            store.close()
