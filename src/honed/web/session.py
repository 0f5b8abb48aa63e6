"""Who may change things: an admin key from the key store (``honed keys create --scope admin``).

Reading needs no key. Promote and rollback need an admin key, given either per request as
``Authorization: Bearer KEY`` (checked like ``honed serve`` checks it) or once on the sign-in
page, which opens a session: a random token in an HttpOnly, SameSite=Strict cookie, kept in the
server's memory with the key's id only (the key itself is never stored, logged or sent back).
Forms of a session carry its CSRF token; a revoked key ends its sessions at their next use.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from fastapi import Request

from honed.server.auth import ADMIN, identify
from honed.server.errors import ApiError

COOKIE = "honed_ui_session"
TTL_S = 8 * 3600.0


@dataclass(frozen=True)
class Session:
    token: str
    key_id: str
    csrf: str
    expires: float


@dataclass(frozen=True)
class Admin:
    """An admin caller: the key's id, and the session it came through (None: a bearer key)."""

    key_id: str
    session: Session | None = None


class Sessions:
    """Open sign-in sessions, in memory (a restart signs everyone out)."""

    def __init__(self, ttl_s: float = TTL_S, clock: Callable[[], float] = time.time) -> None:
        self.ttl_s, self.clock = ttl_s, clock
        self._open: dict[str, Session] = {}

    def open(self, key_id: str) -> Session:
        now = self.clock()
        self._open = {t: s for t, s in self._open.items() if s.expires > now}
        session = Session(secrets.token_urlsafe(32), key_id, secrets.token_urlsafe(24),
                          now + self.ttl_s)
        self._open[session.token] = session
        return session

    def get(self, token: str | None) -> Session | None:
        session = self._open.get(token or "")
        if session is None or session.expires <= self.clock():
            return None
        return session

    def close(self, token: str | None) -> None:
        self._open.pop(token or "", None)


def _active_admin(store: Any, key_id: str) -> bool:
    """Is the key behind a session still an unrevoked admin key?"""
    return any(k.id == key_id and k.allows(ADMIN) for k in store.list_keys())


def admin_of(request: Request) -> Admin | None:
    """The admin behind a request (a bearer key or a session), None when there is none.
    A bearer key that is unknown, revoked or not admin is an ``ApiError`` (401 / 403)."""
    sources = request.app.state.sources
    header = request.headers.get("authorization", "")
    kind, _, token = header.partition(" ")
    if kind.lower() == "bearer" and token.strip():
        store = sources.log()
        if store is None:
            raise ApiError(401, "there are no API keys here: create one with "
                                "`honed keys create --scope admin`", code="invalid_key")
        return Admin(identify(store, token.strip(), ADMIN).key_id)
    sessions: Sessions = request.app.state.sessions
    session = sessions.get(request.cookies.get(COOKIE))
    if session is None:
        return None
    store = sources.log()
    if store is None or not _active_admin(store, session.key_id):
        sessions.close(session.token)
        return None
    return Admin(session.key_id, session)


def require_admin(request: Request, form_csrf: str | None) -> Admin:
    """The admin allowed to make this change; ``ApiError`` 401 without one, 403 when a
    session's form lacks its CSRF token."""
    admin = admin_of(request)
    if admin is None:
        raise ApiError(401, "this needs an admin key: sign in, or send "
                            "'Authorization: Bearer KEY'", code="missing_key")
    if admin.session is not None and not secrets.compare_digest(form_csrf or "",
                                                                admin.session.csrf):
        raise ApiError(403, "the form is stale or did not come from this dashboard; reload "
                            "the page and try again", code="bad_csrf")
    return admin


def sign_in(request: Request, key: str) -> Session:
    """Check an admin key typed on the sign-in page and open a session for it."""
    store = request.app.state.sources.log()
    if store is None:
        raise ApiError(401, "there are no API keys here: create one with "
                            "`honed keys create --scope admin`", code="invalid_key")
    caller = identify(store, key.strip(), ADMIN)
    sessions: Sessions = request.app.state.sessions
    return sessions.open(caller.key_id)
