"""``LogStore``: the production log (requests and their feedback) and honed's API keys.

Every write is one transaction, committed before the call returns, so a server may acknowledge
a request once ``log_request`` or ``add_feedback`` is back. Nothing here stores a provider's
credentials; honed's own keys are kept as hashes only.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from honed.errors import ConfigError
from honed.store import db, schema
from honed.store.db import select_in
from honed.store.keys import SCOPES, KeyRow, hash_key, key_row, new_key, new_key_id

REQUIRED = ("id", "prompt", "version", "inputs")
OPTIONAL = ("created", "alias", "output", "error", "latency_s", "input_tokens", "output_tokens",
            "cost_usd", "user_id", "metadata", "arm", "experiment")

USED_EVERY_S = 60.0  # a key's last_used is refreshed at most this often


class UnknownRequestError(ConfigError):
    """Feedback names a request id that the log does not hold."""


class UnknownKeyError(ConfigError):
    """A key id that the store does not hold."""


def _dumps(value: Any) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def _request_values(row: Mapping[str, Any]) -> dict[str, Any]:
    missing = [k for k in REQUIRED if row.get(k) is None]
    unknown = sorted(set(row) - set(REQUIRED) - set(OPTIONAL))
    if missing or unknown:
        raise ConfigError(f"a request row needs {', '.join(REQUIRED)}; "
                          f"missing: {missing or 'none'}, unknown: {unknown or 'none'}")
    if not isinstance(row["inputs"], Mapping):
        raise ConfigError("a request's inputs must be a mapping of field -> value")
    values = {k: row.get(k) for k in REQUIRED + OPTIONAL}
    values["created"] = float(row.get("created") or time.time())
    values["version"] = int(row["version"])
    values["inputs"] = _dumps(dict(row["inputs"]))
    values["metadata"] = _dumps(dict(row.get("metadata") or {}))
    return values


def _request_dict(mapping: Any) -> dict[str, Any]:
    out = dict(mapping)
    out["inputs"] = json.loads(out["inputs"])
    out["metadata"] = json.loads(out["metadata"])
    out["feedback"] = []
    return out


class LogStore:
    """The production log and API keys over one SQLAlchemy engine (SQLite or PostgreSQL)."""

    def __init__(self, engine: Any, url: str) -> None:
        self.engine, self.url = engine, url

    # requests and feedback --------------------------------------------------------------------
    def log_request(self, row: Mapping[str, Any]) -> None:
        """Append one served request; ``row`` holds ``id``, ``prompt``, ``version``, ``inputs``
        and any of the optional columns. A repeated id is a ConfigError."""
        from sqlalchemy.exc import IntegrityError

        values = _request_values(row)
        try:
            with self.engine.begin() as conn:
                conn.execute(schema.requests.insert().values(**values))
        except IntegrityError:
            raise ConfigError(f"request {values['id']!r} is already in the log",
                              fix="give every request a fresh id") from None

    def log_requests(self, rows: Sequence[Mapping[str, Any]]) -> None:
        """Append several requests in one transaction (a server's group commit); with a
        repeated id among them, each is written alone so the others still land."""
        from sqlalchemy.exc import IntegrityError

        values = [_request_values(row) for row in rows]
        try:
            with self.engine.begin() as conn:
                conn.execute(schema.requests.insert(), values)
        except IntegrityError:
            for row in rows:
                self.log_request(row)

    def add_feedback(self, request_id: str, score: float | None = None, label: str | None = None,
                     correction: str | None = None, comment: str | None = None) -> int:
        """Attach feedback to a logged request; returns the feedback id."""
        from sqlalchemy import select

        if score is None and label is None and correction is None and comment is None:
            raise ConfigError("feedback needs a score, a label, a correction or a comment")
        with self.engine.begin() as conn:
            known = conn.execute(select(schema.requests.c.id)
                                 .where(schema.requests.c.id == request_id)).first()
            if known is None:
                raise UnknownRequestError(f"no request {request_id!r} in the production log",
                                          fix="send feedback for a request id that honed "
                                              "returned")
            result = conn.execute(schema.feedback.insert().values(
                request_id=request_id, created=time.time(),
                score=None if score is None else float(score),
                label=label, correction=correction, comment=comment))
            return int(result.inserted_primary_key[0])

    def requests(self, prompt: str | None = None, version: int | None = None,
                 since: float | None = None, with_feedback: bool = False,
                 limit: int | None = None) -> list[dict[str, Any]]:
        """Logged requests, newest first, each with its ``feedback`` (oldest first)."""
        from sqlalchemy import exists, select

        r, f = schema.requests, schema.feedback
        query = select(r).order_by(r.c.created.desc(), r.c.id.desc())
        if prompt is not None:
            query = query.where(r.c.prompt == prompt)
        if version is not None:
            query = query.where(r.c.version == int(version))
        if since is not None:
            query = query.where(r.c.created >= float(since))
        if with_feedback:
            query = query.where(exists().where(f.c.request_id == r.c.id))
        if limit is not None:
            query = query.limit(int(limit))
        with self.engine.connect() as conn:
            rows = [_request_dict(m) for m in conn.execute(query).mappings()]
            by_id = {row["id"]: row for row in rows}
            for item in self._feedback_for(conn, list(by_id)):
                by_id[item["request_id"]]["feedback"].append(item)
        return rows

    def _feedback_for(self, conn: Any, ids: list[str]) -> Iterable[dict[str, Any]]:
        from sqlalchemy import select

        f = schema.feedback
        query = select(f).order_by(f.c.created, f.c.id)
        yield from (dict(m) for m in select_in(conn, query, f.c.request_id, ids))

    # keys -------------------------------------------------------------------------------------
    def create_key(self, scope: str, name: str | None = None) -> tuple[str, str]:
        """A new key in ``scope``; returns ``(key_id, plaintext)``. Only the hash is stored:
        the plaintext is shown once, here."""
        if scope not in SCOPES:
            raise ConfigError(f"unknown key scope {scope!r}", field="scope",
                              fix=f"use one of: {', '.join(SCOPES)}")
        key_id, plaintext = new_key_id(), new_key()
        with self.engine.begin() as conn:
            conn.execute(schema.api_keys.insert().values(
                id=key_id, name=name or key_id, scope=scope, key_hash=hash_key(plaintext),
                created=time.time()))
        return key_id, plaintext

    def check_key(self, plaintext: str, scope: str | None = None) -> KeyRow | None:
        """The key's row when it exists and is not revoked, else None (a 401). The row comes
        back whatever ``scope`` is; ``row.granted`` (``row.allows(scope)``) tells the caller
        whether the key may act there (a 403 when not). Marks the key as used."""
        from sqlalchemy import select

        k = schema.api_keys
        with self.engine.begin() as conn:
            found = conn.execute(select(k).where(k.c.key_hash == hash_key(plaintext))).mappings()
            mapping = found.first()
            if mapping is None or mapping["revoked_at"] is not None:
                return None
            now, last = time.time(), mapping["last_used"]
            if last is None or now - last > USED_EVERY_S:  # not a write on every request
                conn.execute(k.update().where(k.c.id == mapping["id"]).values(last_used=now))
                last = now
        row = key_row({**mapping, "last_used": last})
        return replace(row, granted=row.allows(scope)) if scope is not None else row

    def list_keys(self) -> list[KeyRow]:
        from sqlalchemy import select

        k = schema.api_keys
        with self.engine.connect() as conn:
            return [key_row(m) for m in
                    conn.execute(select(k).order_by(k.c.created, k.c.id)).mappings()]

    def revoke_key(self, key_id: str) -> KeyRow:
        """Revoke a key (idempotent: an already revoked key keeps its first revocation time)."""
        from sqlalchemy import select

        k = schema.api_keys
        with self.engine.begin() as conn:
            conn.execute(k.update().where(k.c.id == key_id, k.c.revoked_at.is_(None))
                         .values(revoked_at=time.time()))
            mapping = conn.execute(select(k).where(k.c.id == key_id)).mappings().first()
        if mapping is None:
            raise UnknownKeyError(f"no API key {key_id!r}",
                                  fix="see the ids with `honed keys list`")
        return key_row(mapping)

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> LogStore:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


def open_store(url: str | None = None, home: str | Path | None = None) -> LogStore:
    """Open (creating and migrating as needed) the production log at ``url``, else
    ``$HONED_DB``, else ``HOME/serve.sqlite`` (``HOME``: ``home``, else ``$HONED_HOME``)."""
    from sqlalchemy.exc import OperationalError

    resolved = db.database_url(url, home)
    engine = db.create(resolved)
    try:
        db.migrate(engine)
    except OperationalError as exc:
        engine.dispose()
        raise ConfigError(f"cannot open the production log at {db.safe_url(resolved)}: "
                          f"{exc.orig or exc}", field=db.DB_ENV,
                          fix="check that the database is reachable and writable") from None
    return LogStore(engine, resolved)
