"""``MonitorStore``: drift alarms, stored scores of any eval, and the continuous-learning loop's
events, over the production log's engine (SQLite or PostgreSQL). Rows go in and come out as plain
dicts (JSON columns decoded). An alarm is raised once per episode: while one of the same prompt,
version and kind is open, a new one is not recorded."""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Mapping
from typing import Any

from honed.store import schema
from honed.store.db import select_in
from honed.store.experiments import dumps


def _decoded(mapping: Any, key: str) -> dict[str, Any]:
    out = dict(mapping)
    out[key] = json.loads(out[key])
    return out


class MonitorStore:
    """Alarms, scores and loop events over one SQLAlchemy engine."""

    def __init__(self, engine: Any) -> None:
        self.engine = engine

    @classmethod
    def of(cls, log_store: Any) -> MonitorStore:
        return cls(log_store.engine)

    # alarms -----------------------------------------------------------------------------------
    def raise_alarm(self, row: Mapping[str, Any]) -> dict[str, Any] | None:
        """Record an alarm (prompt, version, kind, detector, request_id, at, evidence) unless one
        of the same prompt, version and kind is open; returns the new alarm or None."""
        from sqlalchemy import select

        a = schema.alarms
        with self.engine.begin() as conn:
            open_one = conn.execute(select(a.c.id).where(
                a.c.prompt == row["prompt"], a.c.version == int(row["version"]),
                a.c.kind == row["kind"], a.c.cleared_at.is_(None))).first()
            if open_one is not None:
                return None
            values = {"created": time.time(), "prompt": row["prompt"],
                      "version": int(row["version"]), "kind": row["kind"],
                      "detector": row["detector"], "request_id": row.get("request_id"),
                      "at": row.get("at"), "evidence": dumps(row.get("evidence") or {})}
            alarm_id = conn.execute(a.insert().values(**values)).inserted_primary_key[0]
        return {"id": int(alarm_id), **values, "evidence": row.get("evidence") or {},
                "cleared_at": None, "cleared_by": None}

    def alarms(self, prompt: str | None = None, *, open_only: bool = False,
               since: float | None = None) -> list[dict[str, Any]]:
        """Alarms, newest first."""
        from sqlalchemy import select

        a = schema.alarms
        query = select(a).order_by(a.c.created.desc(), a.c.id.desc())
        if prompt is not None:
            query = query.where(a.c.prompt == prompt)
        if open_only:
            query = query.where(a.c.cleared_at.is_(None))
        if since is not None:
            query = query.where(a.c.created >= float(since))
        with self.engine.connect() as conn:
            return [_decoded(m, "evidence") for m in conn.execute(query).mappings()]

    def clear_alarms(self, prompt: str, *, by: str, ids: Iterable[int] | None = None) -> int:
        """Clear the prompt's open alarms (or only ``ids``); returns how many."""
        a = schema.alarms
        query = a.update().where(a.c.prompt == prompt, a.c.cleared_at.is_(None))
        if ids is not None:
            query = query.where(a.c.id.in_([int(i) for i in ids]))
        with self.engine.begin() as conn:
            return int(conn.execute(query.values(cleared_at=time.time(), cleared_by=by))
                       .rowcount)

    def alarm(self, alarm_id: int) -> dict[str, Any] | None:
        """The alarm ``alarm_id``, or None."""
        from sqlalchemy import select

        a = schema.alarms
        with self.engine.connect() as conn:
            found = conn.execute(select(a).where(a.c.id == int(alarm_id))).mappings().first()
        return None if found is None else _decoded(found, "evidence")

    def cleared_alarms(self, prompt: str | None = None, *, limit: int = 100,
                       offset: int = 0) -> list[dict[str, Any]]:
        """Cleared alarms, the latest cleared first, a page of ``limit`` from ``offset``."""
        from sqlalchemy import select

        a = schema.alarms
        query = (select(a).where(a.c.cleared_at.is_not(None))
                 .order_by(a.c.cleared_at.desc(), a.c.id.desc())
                 .limit(int(limit)).offset(int(offset)))
        if prompt is not None:
            query = query.where(a.c.prompt == prompt)
        with self.engine.connect() as conn:
            return [_decoded(m, "evidence") for m in conn.execute(query).mappings()]

    def alarm_counts(self) -> dict[str, dict[str, int]]:
        """Per prompt: how many alarms are ``open`` and how many ``cleared``."""
        from sqlalchemy import func, select

        a = schema.alarms
        cleared = a.c.cleared_at.is_not(None)
        query = select(a.c.prompt, cleared.label("cleared"), func.count()).group_by(
            a.c.prompt, cleared)
        out: dict[str, dict[str, int]] = {}
        with self.engine.connect() as conn:
            for prompt, is_cleared, n in conn.execute(query):
                counts = out.setdefault(str(prompt), {"open": 0, "cleared": 0})
                counts["cleared" if is_cleared else "open"] += int(n)
        return dict(sorted(out.items()))

    # scores -----------------------------------------------------------------------------------
    def scores(self, request_ids: Iterable[str]) -> dict[str, dict[str, dict[str, Any]]]:
        """Every stored eval score of the requests: eval -> request id -> score row."""
        from sqlalchemy import select

        s = schema.request_scores
        out: dict[str, dict[str, dict[str, Any]]] = {}
        with self.engine.connect() as conn:
            for m in select_in(conn, select(s), s.c.request_id, request_ids):
                out.setdefault(m["eval"], {})[m["request_id"]] = dict(m)
        return out

    # loop events ------------------------------------------------------------------------------
    def add_event(self, row: Mapping[str, Any]) -> dict[str, Any]:
        """Record one step of a loop (loop, step, status, cycle, calls, cost_usd, detail)."""
        values = {"created": float(row.get("created") or time.time()), "loop": row["loop"],
                  "step": row["step"], "status": row["status"], "cycle": int(row["cycle"]),
                  "calls": int(row.get("calls") or 0),
                  "cost_usd": float(row.get("cost_usd") or 0.0),
                  "detail": dumps(row.get("detail") or {})}
        with self.engine.begin() as conn:
            event_id = conn.execute(schema.loop_events.insert().values(**values)
                                    ).inserted_primary_key[0]
        return {"id": int(event_id), **values, "detail": row.get("detail") or {}}

    def events(self, loop: str | None = None, *, since: float | None = None,
               limit: int | None = None) -> list[dict[str, Any]]:
        """Loop events, newest first."""
        from sqlalchemy import select

        e = schema.loop_events
        query = select(e).order_by(e.c.created.desc(), e.c.id.desc())
        if loop is not None:
            query = query.where(e.c.loop == loop)
        if since is not None:
            query = query.where(e.c.created >= float(since))
        if limit is not None:
            query = query.limit(int(limit))
        with self.engine.connect() as conn:
            return [_decoded(m, "detail") for m in conn.execute(query).mappings()]

    def loops(self) -> list[dict[str, Any]]:
        """Every loop with events: ``loop``, ``events``, ``cycle`` and ``first_cycle`` (the
        latest and the earliest cycle's number), ``first`` and ``last`` (times), the most
        recently active first."""
        from sqlalchemy import func, select

        e = schema.loop_events
        query = select(e.c.loop, func.count(), func.max(e.c.cycle), func.min(e.c.cycle),
                       func.min(e.c.created), func.max(e.c.created)).group_by(e.c.loop)
        with self.engine.connect() as conn:
            rows = [{"loop": str(loop), "events": int(n), "cycle": int(cycle or 0),
                     "first_cycle": int(first_cycle or 0), "first": float(first),
                     "last": float(last)}
                    for loop, n, cycle, first_cycle, first, last in conn.execute(query)]
        return sorted(rows, key=lambda r: (-r["last"], r["loop"]))

    def cycle_events(self, loop: str, first: int,
                     last: int | None = None) -> list[dict[str, Any]]:
        """The loop's events of cycles ``first`` to ``last`` (the latest by default), newest
        first."""
        from sqlalchemy import select

        e = schema.loop_events
        query = (select(e).where(e.c.loop == loop, e.c.cycle >= int(first))
                 .order_by(e.c.created.desc(), e.c.id.desc()))
        if last is not None:
            query = query.where(e.c.cycle <= int(last))
        with self.engine.connect() as conn:
            return [_decoded(m, "detail") for m in conn.execute(query).mappings()]
