"""Reads of drift alarms and loop events for the dashboard, on a real SQLite file and a real
PostgreSQL server: one alarm, cleared ones a page at a time, counts per prompt, every loop."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from honed.store import LogStore, open_store
from honed.store.monitor import MonitorStore


@pytest.fixture
def monitor(db_url: str) -> Iterator[MonitorStore]:
    store: LogStore = open_store(db_url)
    yield MonitorStore.of(store)
    store.close()


def _alarm(prompt: str, version: int, kind: str = "quality") -> dict:
    return {"prompt": prompt, "version": version, "kind": kind, "detector": "cusum",
            "at": 10.0 * version, "evidence": {"reference": 0.8, "note": "<b>x</b>"}}


def test_alarms_one_at_a_time_cleared_ones_by_page_and_counts(monitor: MonitorStore) -> None:
    made = [monitor.raise_alarm(_alarm(p, v)) for p in ("a", "b") for v in (1, 2, 3)]
    ids = [int(m["id"]) for m in made if m is not None]
    assert len(ids) == 6
    found = monitor.alarm(ids[0])
    assert found is not None and found["evidence"] == {"reference": 0.8, "note": "<b>x</b>"}
    assert found["cleared_at"] is None and monitor.alarm(10_000) is None
    for alarm_id in ids[:2]:
        monitor.clear_alarms("a", by="user", ids=[alarm_id])
    monitor.clear_alarms("b", by="loop b cycle 1", ids=[ids[3]])
    cleared = monitor.cleared_alarms()
    assert [c["id"] for c in cleared] == [ids[3], ids[1], ids[0]]  # latest cleared first
    assert [c["cleared_by"] for c in cleared] == ["loop b cycle 1", "user", "user"]
    assert [c["id"] for c in monitor.cleared_alarms(limit=1, offset=1)] == [ids[1]]
    assert [c["id"] for c in monitor.cleared_alarms("b")] == [ids[3]]
    assert monitor.alarm_counts() == {"a": {"open": 1, "cleared": 2},
                                      "b": {"open": 2, "cleared": 1}}


def test_loops_most_recently_active_first(monitor: MonitorStore) -> None:
    assert monitor.loops() == []
    for loop, cycle, created in (("one", 1, 100.0), ("one", 2, 300.0), ("two", 1, 200.0),
                                 ("two", 0, 50.0)):
        monitor.add_event({"loop": loop, "step": "trigger", "status": "ok", "cycle": cycle,
                           "created": created})
    assert monitor.loops() == [
        {"loop": "one", "events": 2, "cycle": 2, "first_cycle": 1, "first": 100.0,
         "last": 300.0},
        {"loop": "two", "events": 2, "cycle": 1, "first_cycle": 0, "first": 50.0,
         "last": 200.0}]


def test_events_of_some_cycles(monitor: MonitorStore) -> None:
    for cycle in (1, 2, 2, 3):
        monitor.add_event({"loop": "one", "step": "trigger", "status": "ok", "cycle": cycle,
                           "detail": {"cycle": cycle}, "created": 100.0 * cycle})
    monitor.add_event({"loop": "two", "step": "trigger", "status": "ok", "cycle": 3})
    assert [e["cycle"] for e in monitor.cycle_events("one", 2)] == [3, 2, 2]  # newest first
    assert [e["detail"] for e in monitor.cycle_events("one", 1, 1)] == [{"cycle": 1}]
    assert monitor.cycle_events("one", 4) == []
