"""Where the production log lives and how it is opened: the URL, the engine, the migrations.

``$HONED_DB`` names the database (``postgresql://...`` is read as ``postgresql+psycopg://...``);
without it the log is ``$HONED_HOME/serve.sqlite`` (WAL, a busy timeout, foreign keys on).
Migrations run on every open and are a no-op once the schema is at head.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from honed.errors import ConfigError

DB_ENV = "HONED_DB"
DB_FILE = "serve.sqlite"
BUSY_TIMEOUT_S = 30
MIGRATIONS = Path(__file__).resolve().parent / "migrations"
_PG_LOCK_ID = 0x686F6E6564  # an advisory lock that serialises concurrent migrations


def default_home() -> Path:
    return Path(os.environ.get("HONED_HOME") or ".honed")


def database_url(url: str | None = None, home: str | Path | None = None) -> str:
    """The URL to open: the argument, else ``$HONED_DB``, else the SQLite file in the home."""
    chosen = url or os.environ.get(DB_ENV)
    if not chosen:
        path = Path(home) if home is not None else default_home()
        path.mkdir(parents=True, exist_ok=True)
        return f"sqlite:///{(path / DB_FILE).resolve()}"
    for prefix in ("postgresql://", "postgres://"):
        if chosen.startswith(prefix):
            return "postgresql+psycopg://" + chosen[len(prefix):]
    return chosen


def safe_url(url: str) -> str:
    """The URL without its password, for messages."""
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return "<unparseable URL>"


def create(url: str) -> Any:
    """An engine for ``url``; SQLite gets WAL, a busy timeout and foreign keys on every
    connection. Any problem with the URL is a ConfigError naming it."""
    from sqlalchemy import create_engine, event
    from sqlalchemy.exc import ArgumentError, NoSuchModuleError

    try:
        if url.startswith("sqlite"):
            engine = create_engine(url, connect_args={"timeout": BUSY_TIMEOUT_S})
            event.listen(engine, "connect", _sqlite_pragmas)
        else:
            engine = create_engine(url, pool_pre_ping=True)
    except (ArgumentError, NoSuchModuleError, ImportError) as exc:
        raise ConfigError(f"cannot use database URL {safe_url(url)}: {exc}", field=DB_ENV,
                          fix="use sqlite:///PATH or postgresql://USER@HOST/DB "
                              "(install honed[serve] for PostgreSQL)") from None
    return engine


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_S * 1000}")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=FULL")  # a commit is on disk when the call returns
    cursor.close()


def alembic_config(connection: Any = None) -> Any:
    """Alembic's configuration, built in code: the scripts shipped in the package."""
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


def head_revision() -> str | None:
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def current_revision(connection: Any) -> str | None:
    from alembic.runtime.migration import MigrationContext

    return MigrationContext.configure(connection).get_current_revision()


def migrate(engine: Any) -> None:
    """Bring the schema to head (once; re-opening an up-to-date database changes nothing)."""
    from alembic import command
    from sqlalchemy import text

    with engine.connect() as connection:
        head = head_revision()
        if current_revision(connection) == head:
            return
        connection.rollback()
    with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            connection.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": _PG_LOCK_ID})
        elif connection.dialect.name == "sqlite":
            connection.exec_driver_sql("BEGIN IMMEDIATE")  # one migrating writer at a time
        command.upgrade(alembic_config(connection), "head")


CHUNK = 500  # ids per IN (...): databases cap the parameters of one statement


def select_in(conn: Any, query: Any, column: Any, ids: Iterable[Any]) -> Iterator[Any]:
    """The rows (mappings) of ``query`` whose ``column`` is one of ``ids``, asked ``CHUNK``
    ids at a time (each chunk in the query's order)."""
    ids = list(ids)
    for start in range(0, len(ids), CHUNK):
        yield from conn.execute(query.where(column.in_(ids[start:start + CHUNK]))).mappings()
