"""``ExperimentStore``: online experiments, the decisions taken on prompts, and per-eval scores
of logged requests, over the production log's engine (SQLite or PostgreSQL).

Rows go in and come out as plain dicts (JSON columns decoded); the typed views live in
``honed.experiments``. Every write is one transaction. ``conclude`` ends a running experiment
and records its decision together, and only once: when two checkers race (the server's periodic
check and a cron ``honed experiment check``), one of them wins and the other learns it lost.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from honed.errors import ConfigError
from honed.store import schema
from honed.store.db import select_in

RUNNING = "running"
EXPERIMENT_JSON = ("guardrails", "result")


def dumps(value: Any) -> str:
    """Canonical JSON: SQLite and PostgreSQL store the same bytes."""
    return json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def _experiment_dict(mapping: Any) -> dict[str, Any]:
    out = dict(mapping)
    for key in EXPERIMENT_JSON:
        out[key] = None if out[key] is None else json.loads(out[key])
    return out


def _decision_dict(mapping: Any) -> dict[str, Any]:
    out = dict(mapping)
    out["evidence"] = json.loads(out["evidence"])
    return out


class UnknownExperimentError(ConfigError):
    """An experiment name that the store does not hold."""


class ExperimentStore:
    """Experiments, decisions and request scores over one SQLAlchemy engine."""

    def __init__(self, engine: Any) -> None:
        self.engine = engine

    @classmethod
    def of(cls, log_store: Any) -> ExperimentStore:
        """The experiment tables of an open ``LogStore`` (same engine, same database)."""
        return cls(log_store.engine)

    # experiments ------------------------------------------------------------------------------
    def create(self, row: Mapping[str, Any]) -> dict[str, Any]:
        """Insert a running experiment; a name already used (by any experiment, ended or not)
        is a ConfigError."""
        from sqlalchemy.exc import IntegrityError

        values = {c.name: row.get(c.name) for c in schema.experiments.columns}
        values["guardrails"] = dumps(list(row.get("guardrails") or []))
        values["result"] = None if row.get("result") is None else dumps(row["result"])
        values["status"] = row.get("status") or RUNNING
        values["created"] = float(row.get("created") or time.time())
        try:
            with self.engine.begin() as conn:
                conn.execute(schema.experiments.insert().values(**values))
        except IntegrityError:
            raise ConfigError(f"an experiment named {values['name']!r} already exists",
                              field="NAME", fix="choose another name; see them with "
                                                "`honed experiment list`") from None
        return self.get(str(values["name"]))

    def find(self, name: str) -> dict[str, Any] | None:
        from sqlalchemy import select

        e = schema.experiments
        with self.engine.connect() as conn:
            mapping = conn.execute(select(e).where(e.c.name == name)).mappings().first()
        return None if mapping is None else _experiment_dict(mapping)

    def get(self, name: str) -> dict[str, Any]:
        """The experiment ``name``; UnknownExperimentError naming it when there is none."""
        found = self.find(name)
        if found is None:
            raise UnknownExperimentError(f"no experiment named {name!r}", field="NAME",
                                         fix="see them with `honed experiment list`")
        return found

    def experiments(self, status: str | None = None,
                    prompt: str | None = None) -> list[dict[str, Any]]:
        """Experiments, newest first, optionally only those with ``status`` / on ``prompt``."""
        from sqlalchemy import select

        e = schema.experiments
        query = select(e).order_by(e.c.created.desc(), e.c.name)
        if status is not None:
            query = query.where(e.c.status == status)
        if prompt is not None:
            query = query.where(e.c.prompt == prompt)
        with self.engine.connect() as conn:
            return [_experiment_dict(m) for m in conn.execute(query).mappings()]

    def running(self) -> list[dict[str, Any]]:
        return self.experiments(status=RUNNING)

    def save_result(self, name: str, result: Mapping[str, Any]) -> None:
        """Keep the latest check's result on the experiment."""
        e = schema.experiments
        with self.engine.begin() as conn:
            conn.execute(e.update().where(e.c.name == name).values(result=dumps(dict(result))))

    def conclude(self, name: str, status: str, result: Mapping[str, Any] | None,
                 decision: Mapping[str, Any], *, now: float | None = None
                 ) -> dict[str, Any] | None:
        """End the running experiment ``name`` with ``status`` and record ``decision`` in one
        transaction; returns the decision row, or None when the experiment was no longer
        running (another checker concluded it first: nothing is written)."""
        e = schema.experiments
        now = time.time() if now is None else now
        values: dict[str, Any] = {"status": status, "ended": now}
        if result is not None:
            values["result"] = dumps(dict(result))
        with self.engine.begin() as conn:
            changed = conn.execute(e.update().where(e.c.name == name, e.c.status == RUNNING)
                                   .values(**values)).rowcount
            if changed != 1:
                return None
            decision_id = self._insert_decision(conn, {**decision, "experiment": name}, now)
        return self.decision(decision_id)

    # requests and scores ----------------------------------------------------------------------
    def requests(self, name: str) -> list[dict[str, Any]]:
        """The experiment's logged requests, oldest first, each with its ``feedback`` (oldest
        first); only the columns an analysis reads."""
        from sqlalchemy import select

        r, f = schema.requests, schema.feedback
        columns = [r.c.id, r.c.created, r.c.version, r.c.arm, r.c.user_id, r.c.inputs,
                   r.c.output, r.c.error, r.c.latency_s, r.c.cost_usd]
        query = select(*columns).where(r.c.experiment == name).order_by(r.c.created, r.c.id)
        with self.engine.connect() as conn:
            rows = [{**m, "inputs": json.loads(m["inputs"]), "feedback": []}
                    for m in conn.execute(query).mappings()]
            by_id = {row["id"]: row for row in rows}
            given = select(f).order_by(f.c.created, f.c.id)
            for item in select_in(conn, given, f.c.request_id, by_id):
                by_id[item["request_id"]]["feedback"].append(dict(item))
        return rows

    def metric_rows(self, name: str, *, limit: int | None = None) -> list[dict[str, Any]]:
        """What a metric reads of the experiment's requests, oldest first: ``id``, ``created``,
        ``arm``, ``user_id``, ``error``, ``output`` and ``feedback`` (its ``score``, ``label`` and
        ``correction``, oldest first). Lighter than ``requests`` (no inputs, one query for the
        feedback), for views that draw an experiment's history; ``limit``: the first ones."""
        from sqlalchemy import select

        r, f = schema.requests, schema.feedback
        query = (select(r.c.id, r.c.created, r.c.arm, r.c.user_id, r.c.error, r.c.output)
                 .where(r.c.experiment == name).order_by(r.c.created, r.c.id))
        if limit is not None:
            query = query.limit(int(limit))
        with self.engine.connect() as conn:
            rows = [{**m, "feedback": []} for m in conn.execute(query).mappings()]
            by_id = {row["id"]: row for row in rows}
            given = (select(f.c.request_id, f.c.score, f.c.label, f.c.correction)
                     .join(r, r.c.id == f.c.request_id).where(r.c.experiment == name)
                     .order_by(f.c.created, f.c.id))
            for item in conn.execute(given).mappings():
                row = by_id.get(item["request_id"])
                if row is not None:
                    row["feedback"].append(dict(item))
        return rows

    def scores(self, eval_name: str,
               request_ids: Iterable[str] | None = None) -> dict[str, dict[str, Any]]:
        """Stored scores of ``eval_name``: request id -> {score, passed, error, created}."""
        from sqlalchemy import select

        s = schema.request_scores
        base = select(s).where(s.c.eval == eval_name)
        with self.engine.connect() as conn:
            found = list(conn.execute(base).mappings() if request_ids is None
                         else select_in(conn, base, s.c.request_id, request_ids))
        return {m["request_id"]: {"score": m["score"], "passed": bool(m["passed"]),
                                  "error": m["error"], "created": m["created"]} for m in found}

    def add_scores(self, rows: Sequence[Mapping[str, Any]]) -> int:
        """Store scores (``request_id``, ``eval``, ``score``, ``passed``, optional ``error``
        and ``created``); a request already scored by that eval keeps its first score. Returns
        how many rows were new."""
        if not rows:
            return 0
        now = time.time()
        values = [{"request_id": row["request_id"], "eval": row["eval"],
                   "score": float(row["score"]), "passed": bool(row["passed"]),
                   "error": row.get("error"), "created": float(row.get("created") or now)}
                  for row in rows]
        with self.engine.begin() as conn:
            statement = _insert_ignore(conn.dialect.name, schema.request_scores)
            inserted = conn.execute(statement.returning(schema.request_scores.c.request_id),
                                    values)
            return len(inserted.all())

    # decisions --------------------------------------------------------------------------------
    def record_decision(self, row: Mapping[str, Any], *,
                        now: float | None = None) -> dict[str, Any]:
        """Record a decision (``prompt``, ``kind`` and any of ``alias``, ``from_version``,
        ``to_version``, ``experiment``, ``evidence``)."""
        with self.engine.begin() as conn:
            decision_id = self._insert_decision(conn, row, time.time() if now is None else now)
        return self.decision(decision_id)

    def undo(self, decision_id: int, row: Mapping[str, Any], *,
             now: float | None = None) -> dict[str, Any] | None:
        """Record ``row`` (the undoing decision) and mark ``decision_id`` undone by it, in one
        transaction; None when that decision was already undone (nothing is written)."""
        d = schema.decisions
        now = time.time() if now is None else now
        with self.engine.begin() as conn:
            changed = conn.execute(d.update().where(d.c.id == decision_id,
                                                    d.c.undone_at.is_(None))
                                   .values(undone_at=now)).rowcount
            if changed != 1:
                return None
            new_id = self._insert_decision(conn, row, now)
            conn.execute(d.update().where(d.c.id == decision_id).values(undone_by=new_id))
        return self.decision(new_id)

    def decision(self, decision_id: int) -> dict[str, Any]:
        from sqlalchemy import select

        d = schema.decisions
        with self.engine.connect() as conn:
            mapping = conn.execute(select(d).where(d.c.id == decision_id)).mappings().first()
        if mapping is None:
            raise ConfigError(f"no decision {decision_id}", field="decision")
        return _decision_dict(mapping)

    def decisions(self, prompt: str | None = None, experiment: str | None = None,
                  kind: str | None = None, limit: int | None = None) -> list[dict[str, Any]]:
        """Decisions, newest first."""
        from sqlalchemy import select

        d = schema.decisions
        query = select(d).order_by(d.c.created.desc(), d.c.id.desc())
        for column, value in ((d.c.prompt, prompt), (d.c.experiment, experiment),
                              (d.c.kind, kind)):
            if value is not None:
                query = query.where(column == value)
        if limit is not None:
            query = query.limit(int(limit))
        with self.engine.connect() as conn:
            return [_decision_dict(m) for m in conn.execute(query).mappings()]

    @staticmethod
    def _insert_decision(conn: Any, row: Mapping[str, Any], now: float) -> int:
        result = conn.execute(schema.decisions.insert().values(
            created=now, prompt=row["prompt"], kind=row["kind"], alias=row.get("alias"),
            from_version=row.get("from_version"), to_version=row.get("to_version"),
            experiment=row.get("experiment"), evidence=dumps(dict(row.get("evidence") or {}))))
        return int(result.inserted_primary_key[0])


def _insert_ignore(dialect: str, table: Any) -> Any:
    """INSERT that skips rows whose primary key is already there (both backends)."""
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return pg_insert(table).on_conflict_do_nothing()
    if dialect == "sqlite":
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        return sqlite_insert(table).on_conflict_do_nothing()
    raise ConfigError(f"the production log does not support {dialect!r} databases",
                      fix="use SQLite or PostgreSQL")
