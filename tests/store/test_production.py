"""The dashboard's reads of the production log, on SQLite and PostgreSQL: per-bucket sums done
by the database, latencies, feedback at its request's time, the newest rows of any table."""

from __future__ import annotations

import pytest

from honed.store.log import open_store
from honed.store.production import (
    feedback_points,
    first_request,
    latencies,
    latest_feedback,
    prompt_names,
    request_buckets,
)

T0 = 1_800_000_000.0  # a multiple of 3600


@pytest.fixture
def log(db_url: str):
    store = open_store(db_url)
    rows = [("a", 1, T0 + 10, None, 0.1, 0.5), ("b", 1, T0 + 20, "boom", None, None),
            ("c", 1, T0 + 3599.5, None, 0.3, 0.25), ("d", 2, T0 + 3600, None, 0.2, 1.0),
            ("e", 2, T0 + 7300, None, 0.4, None), ("z", 1, T0 - 100, None, 9.0, 7.0)]
    store.log_requests([{"id": i, "prompt": "p", "version": v, "created": t, "inputs": {"x": i},
                         "output": "yes", "error": e, "latency_s": lat, "cost_usd": cost,
                         "input_tokens": 10, "output_tokens": 1}
                        for i, v, t, e, lat, cost in rows])
    store.add_feedback("a", score=1.0)
    store.add_feedback("d", label="yes", comment="<b>fine</b>")
    yield store
    store.close()


def test_buckets_are_summed_by_the_database(log) -> None:
    buckets = request_buckets(log, origin=T0, size=3600)
    got = {(b.version, b.bucket): b for b in buckets}
    assert set(got) == {(1, 0), (2, 1), (2, 2)}  # z is before the origin
    first = got[(1, 0)]
    assert (first.requests, first.errors, first.input_tokens) == (3, 1, 30)
    assert first.cost_usd == pytest.approx(0.75)
    assert got[(2, 2)].cost_usd == 0.0  # no cost recorded: 0, not None
    assert request_buckets(log, origin=T0, size=3600, since=T0 + 3600)[0].version == 2
    assert first_request(log) == T0 - 100 and first_request(log, since=T0) == T0 + 10


def test_latencies_and_feedback(log) -> None:
    assert sorted(latencies(log, origin=T0, size=3600)) == [
        ("p", 1, 0, 0.1), ("p", 1, 0, 0.3), ("p", 2, 1, 0.2), ("p", 2, 2, 0.4)]
    points = feedback_points(log, since=T0)
    assert [(p.created, p.version, p.score, p.label) for p in points] == [
        (T0 + 10, 1, 1.0, None), (T0 + 3600, 2, None, "yes")]
    newest = latest_feedback(log, limit=1)
    assert newest[0]["request_id"] == "d" and newest[0]["inputs"] == {"x": "d"}
    assert prompt_names(log) == ["p"]
