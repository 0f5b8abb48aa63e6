"""Reads of the production log for dashboards: light rows of requests and feedback over a time
range (the numbers, not the texts), the latest feedback with its request, and the newest rows of
any table of the log (for panels over tables other parts of honed add).

Read-only: nothing here writes.
"""

from __future__ import annotations

import json
from typing import Any, NamedTuple

from honed.store import schema
from honed.store.log import LogStore


class RequestBucket(NamedTuple):
    """Requests of one prompt version in one time bucket, summed."""

    prompt: str
    version: int
    bucket: int  # the bucket's index: it starts at origin + bucket * size
    requests: int
    errors: int
    cost_usd: float
    input_tokens: int
    output_tokens: int


class FeedbackPoint(NamedTuple):
    created: float  # when the request it rates was served
    prompt: str
    version: int
    score: float | None
    label: str | None
    output: str | None  # the request's output (a label is judged against it)


def _where(query: Any, table: Any, since: float | None, prompt: str | None) -> Any:
    if since is not None:
        query = query.where(table.c.created >= float(since))
    if prompt is not None:
        query = query.where(schema.requests.c.prompt == prompt)
    return query


def _bucket(store: LogStore, created: Any, origin: float, size: float) -> Any:
    """The index of the bucket a time falls in (times before ``origin`` are filtered out)."""
    from sqlalchemy import Integer, cast, func

    if store.engine.dialect.name == "sqlite":  # a cast truncates, which is floor here
        return cast((created - origin) / size, Integer)
    return cast(func.floor((created - origin) / size), Integer)


def first_request(store: LogStore, *, since: float | None = None,
                  prompt: str | None = None) -> float | None:
    """When the first request since ``since`` (of ``prompt``) was served."""
    from sqlalchemy import func, select

    r = schema.requests
    with store.engine.connect() as conn:
        first = conn.execute(_where(select(func.min(r.c.created)), r, since, prompt)).scalar()
    return None if first is None else float(first)


def request_buckets(store: LogStore, *, origin: float, size: float, since: float | None = None,
                    prompt: str | None = None) -> list[RequestBucket]:
    """Requests since ``since`` (default ``origin``) per prompt version and bucket of ``size``
    seconds from ``origin``: counts, errors, cost and tokens, summed by the database."""
    from sqlalchemy import func, select

    r = schema.requests
    bucket = _bucket(store, r.c.created, origin, size).label("bucket")
    query = select(r.c.prompt, r.c.version, bucket, func.count(), func.count(r.c.error),
                   func.coalesce(func.sum(r.c.cost_usd), 0.0),
                   func.coalesce(func.sum(r.c.input_tokens), 0),
                   func.coalesce(func.sum(r.c.output_tokens), 0))
    query = _where(query, r, origin if since is None else since, prompt)
    query = query.group_by(r.c.prompt, r.c.version, bucket)
    with store.engine.connect() as conn:
        return [RequestBucket(row[0], int(row[1]), int(row[2]), int(row[3]), int(row[4]),
                              float(row[5]), int(row[6]), int(row[7]))
                for row in conn.execute(query).all()]


def latencies(store: LogStore, *, origin: float, size: float, since: float | None = None,
              prompt: str | None = None) -> list[tuple[str, int, int, float]]:
    """(prompt, version, bucket, latency) of every answered request since ``since`` (default
    ``origin``), in buckets of ``size`` seconds from ``origin``. (Ranking them in the database
    with a window function measured slower on SQLite than ranking them here.)"""
    from sqlalchemy import select

    r = schema.requests
    query = select(r.c.prompt, r.c.version, _bucket(store, r.c.created, origin, size),
                   r.c.latency_s).where(r.c.error.is_(None), r.c.latency_s.is_not(None))
    query = _where(query, r, origin if since is None else since, prompt)
    with store.engine.connect() as conn:
        return [(row[0], int(row[1]), int(row[2]), float(row[3]))
                for row in conn.execute(query).all()]


def feedback_points(store: LogStore, *, since: float | None = None,
                    prompt: str | None = None) -> list[FeedbackPoint]:
    """Every feedback row on a request served since ``since``, at that request's time, with
    its prompt, version and output."""
    from sqlalchemy import select

    f, r = schema.feedback, schema.requests
    query = (select(r.c.created, r.c.prompt, r.c.version, f.c.score, f.c.label, r.c.output)
             .join(r, r.c.id == f.c.request_id))
    query = _where(query, r, since, prompt).order_by(r.c.created)
    with store.engine.connect() as conn:
        return [FeedbackPoint._make(row) for row in conn.execute(query).all()]


def latest_feedback(store: LogStore, *, limit: int = 50,
                    prompt: str | None = None) -> list[dict[str, Any]]:
    """The newest feedback, each with its request (inputs decoded from JSON)."""
    from sqlalchemy import select

    f, r = schema.feedback, schema.requests
    query = (select(f.c.id, f.c.created, f.c.request_id, f.c.score, f.c.label, f.c.correction,
                    f.c.comment, r.c.prompt, r.c.version, r.c.inputs, r.c.output, r.c.error)
             .join(r, r.c.id == f.c.request_id))
    query = _where(query, f, None, prompt).order_by(f.c.created.desc(), f.c.id.desc())
    with store.engine.connect() as conn:
        rows = [dict(m) for m in conn.execute(query.limit(int(limit))).mappings()]
    for row in rows:
        row["inputs"] = json.loads(row["inputs"])
    return rows


def prompt_names(store: LogStore) -> list[str]:
    """The prompts the log has requests of."""
    from sqlalchemy import select

    r = schema.requests
    with store.engine.connect() as conn:
        return sorted(row[0] for row in conn.execute(select(r.c.prompt).distinct()))
