"""A run's task, read again for its report: the model it names and the rows of its data (the
run store keeps example ids and results, not the inputs)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from honed.errors import HonedError


@dataclass(frozen=True)
class TaskData:
    """What the task file says today: its model and every example by id (train, val, test)."""

    model: str | None = None
    examples: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    note: str | None = None  # why the inputs cannot be shown, when they cannot


class TaskLoader:
    """Reads task files once per path and modification time. A relative path is looked up in
    the current folder, then under each of ``roots`` (the run recorded the path it was given)."""

    def __init__(self, roots: Sequence[Path] = ()) -> None:
        self.roots = tuple(roots)
        self._cache: dict[tuple[str, float], TaskData] = {}

    def find(self, task_path: str | None) -> Path | None:
        if not task_path:
            return None
        path = Path(task_path)
        places = [path] if path.is_absolute() else [path, *(r / path for r in self.roots)]
        return next((p for p in places if p.is_file()), None)

    def load(self, task_path: str | None) -> TaskData:
        path = self.find(task_path)
        if path is None:
            return TaskData(note=f"the task file {task_path or '(none recorded)'} is not found "
                                 "here, so example inputs are not shown")
        key = (str(path.resolve()), path.stat().st_mtime)
        if key not in self._cache:
            self._cache[key] = _read(path)
        return self._cache[key]


def _read(path: Path) -> TaskData:
    from honed.task.config import load_splits, load_task

    try:
        task = load_task(path)
    except HonedError as exc:
        return TaskData(note=f"the task file {path} cannot be read ({exc}), so example inputs "
                             "are not shown")
    try:
        splits = load_splits(task)
    except HonedError as exc:
        return TaskData(task.model.spec, {}, f"the data of {path} cannot be read ({exc}), so "
                                             "example inputs are not shown")
    rows = {ex.id: dict(ex.fields) for split in (splits.train, splits.val, splits.test)
            for ex in split}
    rows.update({ex_id: dict(ex.fields) for ex_id, ex in task.demo_rows().items()})
    return TaskData(task.model.spec, rows)
