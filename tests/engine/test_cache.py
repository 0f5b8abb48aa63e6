import sqlite3
from pathlib import Path

import pytest

from honed.engine.cache import ResponseCache
from honed.errors import ConfigError
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


def test_every_answer_is_on_disk_as_it_arrives(tmp_path: Path) -> None:
    """What a kill -9 leaves: every answer put so far, without a flush or a close."""
    path = tmp_path / "c.sqlite"
    cache = ResponseCache(path)
    cache.put("k", "m", Completion("kept"))
    other = sqlite3.connect(path)  # another process's view
    assert other.execute("SELECT text FROM responses WHERE key='k'").fetchone() == ("kept",)
    other.close()
    cache.close()


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


# a damaged file -----------------------------------------------------------------------------------
def filled(path: Path, n: int = 80) -> list[str]:
    cache = ResponseCache(path)
    keys = [f"key-{i:03d}" for i in range(n)]
    for key in keys:
        cache.put(key, "m", Completion(key * 100))
    cache.close()
    return keys


def test_a_damaged_file_is_moved_aside_and_an_empty_cache_replaces_it(tmp_path: Path) -> None:
    path, events = tmp_path / "cache.sqlite", []
    path.write_bytes(b"not a cache\n" * 500)
    cache = ResponseCache(path, on_event=events.append)
    assert cache.moved_to is not None and cache.moved_to.name.startswith("cache.sqlite.corrupt-")
    assert cache.moved_to.read_bytes() == b"not a cache\n" * 500  # kept as it was
    assert [e.level for e in events] == ["warning"] and str(path) in events[0].text
    assert events[0].data["moved_to"] == str(cache.moved_to) and cache.problem
    cache.put("k", "m", Completion("fresh"))
    cache.close()
    assert ResponseCache(path).get("k").text == "fresh"


def test_a_truncated_cache_is_replaced_too(tmp_path: Path) -> None:
    path = tmp_path / "cache.sqlite"
    filled(path)
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2 + 7])
    cache = ResponseCache(path)
    assert cache.moved_to is not None and len(cache) == 0
    cache.close()


def test_damage_met_mid_run_switches_the_cache_off_and_the_run_goes_on(tmp_path: Path) -> None:
    path, events = tmp_path / "cache.sqlite", []
    keys = filled(path)
    data = bytearray(path.read_bytes())
    page = int.from_bytes(data[16:18], "big")
    data[-page:] = b"\xa5" * page  # a page of rows, not read on open
    path.write_bytes(bytes(data))
    cache = ResponseCache(path, on_event=events.append)
    assert cache.moved_to is None
    hits = [cache.get(key) for key in keys]
    assert None in hits and cache.problem and "switched off" in events[-1].text
    assert cache.get(keys[0]) is None  # off for the rest of the run
    cache.put("new", "m", Completion("x"))
    cache.close()  # flushing into a switched-off cache is a no-op, not an error
    assert path.exists()  # left for the user to move aside, as the warning says


def test_a_path_that_cannot_be_opened_is_a_config_error(tmp_path: Path) -> None:
    folder = tmp_path / "cache.sqlite"
    folder.mkdir()
    with pytest.raises(ConfigError, match="cannot open or write"):
        ResponseCache(folder)
