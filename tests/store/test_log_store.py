"""The production log and API keys against a real SQLite file and a real PostgreSQL server."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import create_engine, inspect, text

from honed.errors import ConfigError
from honed.store import KEY_PREFIX, LogStore, UnknownKeyError, UnknownRequestError, open_store
from honed.store import db as store_db


@pytest.fixture
def store(db_url: str) -> Iterator[LogStore]:
    s = open_store(db_url)
    yield s
    s.close()


def _row(rid: str, **extra: Any) -> dict[str, Any]:
    return {"id": rid, "prompt": "sentiment", "version": 1, "inputs": {"text": f"t-{rid}"},
            "output": "positive", **extra}


def test_migrations_run_once_and_reopening_is_idempotent(db_url: str) -> None:
    open_store(db_url).close()
    engine = create_engine(db_url)
    try:
        with engine.connect() as conn:
            assert store_db.current_revision(conn) == store_db.head_revision()
            assert conn.execute(text("SELECT count(*) FROM alembic_version")).scalar() == 1
        assert {"requests", "feedback", "api_keys"} <= set(inspect(engine).get_table_names())
    finally:
        engine.dispose()
    with open_store(db_url) as again:  # reopening: no error, data kept
        again.log_request(_row("r1"))
    with open_store(db_url) as third:
        assert [r["id"] for r in third.requests()] == ["r1"]


def test_migrations_match_the_core_tables(db_url: str) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    from honed.store import schema

    open_store(db_url).close()
    engine = create_engine(db_url)
    try:
        with engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn), schema.metadata)
    finally:
        engine.dispose()
    assert diff == []


def test_request_and_feedback_round_trip(store: LogStore) -> None:
    store.log_request(_row("r1", alias="prod", latency_s=0.25, input_tokens=10, output_tokens=2,
                           cost_usd=0.001, user_id="u1", metadata={"ua": "x"}, arm="b",
                           created=1000.0))
    first = store.add_feedback("r1", score=0.0, comment="meh")
    second = store.add_feedback("r1", correction="negative", label="neg")
    assert second > first
    [row] = store.requests()
    assert row["inputs"] == {"text": "t-r1"} and row["metadata"] == {"ua": "x"}
    assert (row["alias"], row["arm"], row["user_id"], row["version"]) == ("prod", "b", "u1", 1)
    assert row["latency_s"] == 0.25 and row["input_tokens"] == 10 and row["cost_usd"] == 0.001
    assert row["created"] == 1000.0
    assert [f["id"] for f in row["feedback"]] == [first, second]
    assert row["feedback"][1]["correction"] == "negative"
    assert row["feedback"][0]["score"] == 0.0 and row["feedback"][0]["comment"] == "meh"


def test_feedback_for_an_unknown_request_is_a_clear_error(store: LogStore) -> None:
    with pytest.raises(UnknownRequestError, match="nope"):
        store.add_feedback("nope", score=1)
    store.log_request(_row("r1"))
    with pytest.raises(ConfigError, match="needs a score"):
        store.add_feedback("r1")


def test_a_repeated_request_id_and_a_bad_row_are_refused(store: LogStore) -> None:
    store.log_request(_row("r1"))
    with pytest.raises(ConfigError, match="already in the log"):
        store.log_request(_row("r1"))
    with pytest.raises(ConfigError, match="missing"):
        store.log_request({"id": "r2", "prompt": "p", "version": 1})
    with pytest.raises(ConfigError, match="unknown"):
        store.log_request({**_row("r3"), "bogus": 1})
    store.log_request(_row("r4"))  # the store still works after a refused write


def test_filters(store: LogStore) -> None:
    now = time.time()
    store.log_request(_row("old", created=now - 7200))
    store.log_request(_row("v2", version=2, created=now - 60))
    store.log_request({**_row("other", created=now - 30), "prompt": "summary"})
    store.log_request(_row("new", created=now))
    store.add_feedback("old", label="x")
    assert [r["id"] for r in store.requests()] == ["new", "other", "v2", "old"]
    assert [r["id"] for r in store.requests(prompt="sentiment")] == ["new", "v2", "old"]
    assert [r["id"] for r in store.requests(prompt="sentiment", version=2)] == ["v2"]
    assert [r["id"] for r in store.requests(since=now - 3600)] == ["new", "other", "v2"]
    assert [r["id"] for r in store.requests(with_feedback=True)] == ["old"]
    assert [r["id"] for r in store.requests(limit=2)] == ["new", "other"]
    assert store.requests(prompt="missing") == []


def test_keys_are_stored_hashed_and_checked_by_scope(store: LogStore) -> None:
    key_id, plaintext = store.create_key("serve", "web")
    assert plaintext.startswith(KEY_PREFIX) and len(plaintext) == len(KEY_PREFIX) + 32
    row = store.check_key(plaintext, "serve")
    assert row is not None and row.id == key_id and row.name == "web" and row.granted
    assert row.last_used is not None
    denied = store.check_key(plaintext, "admin")
    assert denied is not None and denied.granted is False  # known key, wrong scope: a 403
    assert store.check_key(plaintext + "x", "serve") is None  # unknown: a 401
    assert store.check_key("", "serve") is None
    admin_id, admin = store.create_key("admin", None)
    for scope in ("serve", "feedback", "admin"):
        assert store.check_key(admin, scope).granted  # type: ignore[union-attr]
    listed = store.list_keys()
    assert [k.id for k in listed] == [key_id, admin_id]
    assert listed[1].name == admin_id  # the id names a key created without a name
    assert all(plaintext not in repr(k.as_dict()) for k in listed)


def test_revoked_keys_fail(store: LogStore) -> None:
    key_id, plaintext = store.create_key("feedback", "cb")
    revoked = store.revoke_key(key_id)
    assert revoked.revoked and revoked.revoked_at is not None
    assert store.check_key(plaintext, "feedback") is None
    assert store.revoke_key(key_id).revoked_at == revoked.revoked_at  # idempotent
    with pytest.raises(UnknownKeyError):
        store.revoke_key("key_missing")
    with pytest.raises(ConfigError, match="scope"):
        store.create_key("root", "x")


def test_writes_are_visible_to_another_connection_at_once(db_url: str) -> None:
    with open_store(db_url) as writer, open_store(db_url) as reader:
        writer.log_request(_row("r1"))
        writer.add_feedback("r1", score=1.0)
        [row] = reader.requests()
        assert row["feedback"][0]["score"] == 1.0
