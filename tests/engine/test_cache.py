import sqlite3
from pathlib import Path

from honed.engine.cache import ResponseCache
from honed.providers.base import Completion
from honed.types import Usage


def test_round_trip_persists_across_instances(tmp_path: Path) -> None:
    path = tmp_path / "c.sqlite"
    cache = ResponseCache(path, batch=2)
    cache.put("k1", "fake", Completion("hello", Usage(3, 1), 0.1, 0.002))
    assert cache.get("k1").text == "hello"  # served from the write buffer
    cache.close()
    again = ResponseCache(path)
    hit = again.get("k1")
    assert hit is not None and hit.cached and hit.usage == Usage(3, 1) and hit.cost_usd == 0.002
    assert again.get("missing") is None
    again.close()


def test_wal_mode_and_concurrent_writers(tmp_path: Path) -> None:
    path = tmp_path / "c.sqlite"
    a, b = ResponseCache(path, batch=1), ResponseCache(path, batch=1)
    a.put("x", "m", Completion("1"))
    b.put("y", "m", Completion("2"))
    assert a.get("y").text == "2" and b.get("x").text == "1"
    mode = sqlite3.connect(path).execute("PRAGMA journal_mode").fetchone()[0]
    assert mode == "wal"
    a.close()
    b.close()
