"""Apply a prompt to a task file: round-trip YAML (comments and layout kept), backup first.

``apply`` resolves a spec (run id, ``NAME@ALIAS``, ``NAME/VERSION`` or another task file) to a
candidate and writes its system/user/demos into the task file. The new file is validated
(schema, template variables, demo ids) before anything is written; the old one is copied to
``task.yaml.bak.YYYYmmdd-HHMMSS``; the write itself is atomic. ``dry_run`` only returns the
unified diff.
"""

from __future__ import annotations

import contextlib
import difflib
import os
import shutil
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from honed.errors import ConfigError
from honed.lifecycle.registry import PromptRegistry
from honed.lifecycle.specs import Resolved, resolve_spec
from honed.task.config import dump_yaml, load_splits, load_task, read_yaml, set_prompt
from honed.task.task import Task
from honed.tracking.store import RunStore
from honed.types import Candidate, Example

HEADER = "Applied by honed:"


@dataclass(frozen=True)
class ApplyResult:
    task_path: Path
    source: Resolved | None
    candidate: Candidate
    changed: bool
    diff: str
    backup: Path | None
    dry_run: bool

    @property
    def written(self) -> bool:
        return self.changed and not self.dry_run

    def to_dict(self) -> dict[str, Any]:
        return {"task_file": str(self.task_path),
                "source": self.source.to_dict() if self.source else None,
                "candidate_id": self.candidate.id, "changed": self.changed,
                "written": self.written, "dry_run": self.dry_run,
                "backup": str(self.backup) if self.backup else None, "diff": self.diff}


def apply(source_spec: str, task_path: Path | None = None, *, dry_run: bool = False,
          registry: PromptRegistry | None = None, store: RunStore | None = None,
          now: datetime | None = None) -> ApplyResult:
    """Write the prompt that ``source_spec`` names into ``task_path``.

    Without ``task_path``, a run id is applied to its own task file.
    """
    base = load_task(task_path) if task_path is not None else None
    source = resolve_spec(source_spec, registry=registry, store=store, base_task=base)
    if task_path is None:
        if source.kind != "run":
            raise ConfigError(f"which task file should {source_spec!r} be written into?",
                              field="TASK", fix="name the task file: honed apply SPEC TASK.yaml")
        task_path = Path(source.task.source)
    result = apply_candidate(source.candidate, task_path, label=source.label,
                             dry_run=dry_run, now=now, demo_rows=_demo_rows(source))
    return ApplyResult(result.task_path, source, result.candidate, result.changed,
                       result.diff, result.backup, result.dry_run)


def _demo_rows(source: Resolved) -> dict[str, Example]:
    """The rows of the candidate's demos, so the file shows them: the registry version's own,
    else the source task's train split and inline demos."""
    if not source.candidate.demos:
        return {}
    rows: dict[str, Example] = dict(source.task.demo_rows())
    with contextlib.suppress(ConfigError):  # data moved: the registry rows or ids will do
        rows |= {ex.id: ex for ex in load_splits(source.task).train}
    return rows | dict(source.demos)


def apply_candidate(candidate: Candidate, task_path: Path, *, label: str = "",
                    dry_run: bool = False, now: datetime | None = None,
                    demo_rows: Mapping[str, Example] | None = None) -> ApplyResult:
    task_path = Path(task_path)
    original = _read_text(task_path)
    if _same_prompt(task_path, candidate):
        return ApplyResult(task_path, None, candidate, False, "", None, dry_run)
    new = render_applied(task_path, candidate, original, label, demo_rows)
    diff, changed = unified_diff(original, new, task_path), True
    backup = None
    if changed and not dry_run:
        backup = backup_path(task_path, now or datetime.now())
        shutil.copy2(task_path, backup)
        atomic_write(task_path, new)
    return ApplyResult(task_path, None, candidate, changed, diff, backup, dry_run)


def write_optimized(task: Task, candidate: Candidate, run_id: str,
                    scores: Mapping[str, tuple[float, float]],
                    demo_rows: Mapping[str, Example] | None = None) -> Path:
    """``<file>.optimized.yaml`` beside the task file: the same task with ``candidate`` as its
    prompt, its demos written as rows (``demo_rows``, else the task's inline demos, else its
    train split), validated like an applied prompt; a file it replaces is backed up first."""
    source = Path(task.source)
    rows = rows_for(task, tuple(candidate.demos), demo_rows or {})
    text = render_applied(source, candidate, _read_text(source), demo_rows=rows)
    summary = ", ".join(f"{split} {a:.3f} -> {b:.3f}" for split, (a, b) in scores.items())
    out = source.with_name(f"{source.stem}.optimized.yaml")
    if out.exists():
        shutil.copy2(out, backup_path(out, datetime.now()))
    atomic_write(out, f"# Optimized by honed run {run_id}: {summary}\n{text}")
    return out


def rows_for(task: Task, demo_ids: tuple[str, ...],
             given: Mapping[str, Example]) -> dict[str, Example]:
    """The rows of ``demo_ids``: ``given``, the task's inline demos, then its train split."""
    rows = {**task.demo_rows(), **given}
    if any(d not in rows for d in demo_ids):
        try:
            train = load_splits(task).train
        except ConfigError:  # the data moved: demos it would have named stay ids
            train = ()
        rows = {**{ex.id: ex for ex in train}, **rows}
    return {d: rows[d] for d in demo_ids if d in rows}


def render_applied(task_path: Path, candidate: Candidate, original: str, label: str = "",
                   demo_rows: Mapping[str, Example] | None = None) -> str:
    """The task file's text with ``candidate`` as its prompt (demos as their rows where
    known), validated against the task."""
    doc = read_yaml(task_path)
    if not isinstance(doc, dict):
        raise ConfigError("a task file must be a YAML mapping", file=str(task_path))
    set_prompt(doc, candidate, demo_rows)
    header = f"{HEADER} {label} (candidate {candidate.id})" if label else ""
    with tempfile.TemporaryDirectory(prefix="honed-apply-") as folder:
        scratch = Path(folder) / task_path.name
        dump_yaml(doc, scratch, like=original)
        text = scratch.read_text(encoding="utf-8")
        _validate(scratch, task_path)
    return _with_header(text, header)


def _validate(scratch: Path, task_path: Path) -> None:
    """Schema, template variables and demo ids of the new file, data resolved as the real one."""
    try:
        task = load_task(scratch).bind(task_path.resolve().parent, str(task_path))
        load_splits(task)
    except ConfigError as exc:
        load_splits(load_task(task_path))  # a problem the file had before: raise it as is
        raise ConfigError(f"the applied prompt does not fit this task: {exc.args[0]}",
                          file=str(task_path), field=exc.field, fix=exc.fix) from None


def _with_header(text: str, header: str) -> str:
    lines = text.splitlines(keepends=True)
    while lines and lines[0].startswith(f"# {HEADER}"):
        lines.pop(0)
    body = "".join(lines)
    return f"# {header}\n{body}" if header else body


def _same_prompt(task_path: Path, candidate: Candidate) -> bool:
    """Whether the file already holds ``candidate`` (inline demo rows count by their ids)."""
    task = load_task(task_path)
    return task.prompt.registry is None and task.seed_candidate().id == candidate.id


def unified_diff(old: str, new: str, path: Path) -> str:
    return "".join(difflib.unified_diff(old.splitlines(keepends=True),
                                        new.splitlines(keepends=True),
                                        fromfile=f"{path} (current)",
                                        tofile=f"{path} (applied)"))


def backup_path(task_path: Path, now: datetime) -> Path:
    """``task.yaml.bak.YYYYmmdd-HHMMSS``; a suffix keeps two backups in one second apart."""
    stem = f"{task_path.name}.bak.{now.strftime('%Y%m%d-%H%M%S')}"
    path, n = task_path.with_name(stem), 1
    while path.exists():
        n += 1
        path = task_path.with_name(f"{stem}-{n}")
    return path


def _read_text(path: Path) -> str:
    if not path.is_file():
        raise ConfigError("task file not found", file=str(path))
    try:
        return path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"not UTF-8 (byte {exc.start})", file=str(path),
                          fix="re-save the file as UTF-8") from None


def atomic_write(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file and a rename: a reader sees the old
    file or the new one, never half of one (a replaced file keeps its mode)."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
            handle.write(text)
        if path.exists():
            shutil.copymode(path, tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
