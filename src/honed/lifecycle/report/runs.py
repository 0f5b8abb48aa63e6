"""The runs list of the dashboard: one row per run, searched, filtered and sorted."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from honed.tracking.store import RunRow, RunStore

SORTS = ("created", "task", "status", "optimizer", "best_test", "best_val", "calls", "cost_usd")
MAX_RUNS = 10_000


@dataclass(frozen=True)
class RunListRow:
    id: str
    task: str
    optimizer: str
    status: str
    created: float
    updated: float
    seed_val: float | None
    best_val: float | None
    best_test: float | None
    best_test_ci: tuple[float, float] | None
    calls: int | None
    cost_usd: float | None


@dataclass(frozen=True)
class RunQuery:
    """Search text (in the id, task and optimizer), exact filters and a sort."""

    q: str = ""
    status: str = ""
    task: str = ""
    optimizer: str = ""
    sort: str = "created"
    descending: bool = True


def _split(result: dict[str, Any], who: str, split: str) -> dict[str, Any]:
    return ((result.get(who) or {}).get(split)) or {}


def list_row(row: RunRow) -> RunListRow:
    result = row.result or {}
    test = _split(result, "best", "test")
    ci = test.get("ci95")
    return RunListRow(row.id, row.task, row.optimizer or "", row.status, row.created,
                      row.updated, _split(result, "seed", "val").get("score"),
                      _split(result, "best", "val").get("score"), test.get("score"),
                      (float(ci[0]), float(ci[1])) if ci else None, result.get("calls"),
                      result.get("cost_usd"))


def run_rows(store: RunStore, limit: int = MAX_RUNS) -> list[RunListRow]:
    """The newest ``limit`` runs as list rows."""
    return [list_row(r) for r in store.runs(None, limit)]


def select_runs(rows: Sequence[RunListRow], query: RunQuery) -> list[RunListRow]:
    """``rows`` matching ``query``, sorted (runs without the sort value last)."""
    needle = query.q.strip().lower()
    chosen = [r for r in rows
              if (not needle or needle in f"{r.id} {r.task} {r.optimizer}".lower())
              and (not query.status or r.status == query.status)
              and (not query.task or r.task == query.task)
              and (not query.optimizer or r.optimizer == query.optimizer)]
    key = query.sort if query.sort in SORTS else "created"
    present = [r for r in chosen if getattr(r, key) is not None]
    missing = [r for r in chosen if getattr(r, key) is None]
    present.sort(key=lambda r: (getattr(r, key), r.created), reverse=query.descending)
    return present + missing


def facets(rows: Sequence[RunListRow]) -> dict[str, list[str]]:
    """The values each filter can take."""
    return {name: sorted({getattr(r, name) for r in rows if getattr(r, name)})
            for name in ("status", "task", "optimizer")}
