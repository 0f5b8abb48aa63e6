"""SQLite specifics: the default location, WAL, no plaintext keys in the file, URL handling."""

from __future__ import annotations

from pathlib import Path

import pytest

from honed.errors import ConfigError
from honed.store import database_url, open_store


def test_default_is_serve_sqlite_in_the_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                             ) -> None:
    monkeypatch.delenv("HONED_DB", raising=False)
    with open_store(home=tmp_path / "h") as store:
        assert store.url == f"sqlite:///{(tmp_path / 'h' / 'serve.sqlite').resolve()}"
        with store.engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() > 0
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1


def test_honed_db_overrides_and_postgres_urls_use_psycopg(tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch
                                                          ) -> None:
    monkeypatch.setenv("HONED_DB", "postgresql://u:p@db/honed")
    assert database_url() == "postgresql+psycopg://u:p@db/honed"
    monkeypatch.setenv("HONED_DB", "postgres://u@db/honed")
    assert database_url() == "postgresql+psycopg://u@db/honed"
    assert database_url(f"sqlite:///{tmp_path}/x.db") == f"sqlite:///{tmp_path}/x.db"


def test_a_bad_url_is_a_config_error_without_the_password(monkeypatch: pytest.MonkeyPatch
                                                          ) -> None:
    with pytest.raises(ConfigError) as info:
        open_store("nosuchdialect://user:secret@host/db")
    assert "HONED_DB" in str(info.value) and "secret" not in str(info.value)


def test_the_plaintext_key_appears_nowhere_in_the_database_file(tmp_path: Path) -> None:
    path = tmp_path / "keys.sqlite"
    with open_store(f"sqlite:///{path}") as store:
        key_id, plaintext = store.create_key("admin", "ops")
        assert store.check_key(plaintext, "admin") is not None
    with open_store(f"sqlite:///{path}") as store:  # reopening folds the WAL into the file
        store.engine.dispose()
    blob = b"".join(p.read_bytes() for p in tmp_path.iterdir() if p.name.startswith("keys"))
    assert key_id.encode() in blob
    assert plaintext.encode() not in blob
    assert plaintext[len("hnd_"):].encode() not in blob
