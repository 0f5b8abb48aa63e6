"""Harvest rules, as a pure function over logged requests."""

from __future__ import annotations

from typing import Any

from honed.store import harvest_rows


def _req(rid: str, text: str, output: str | None, *feedback: dict[str, Any]) -> dict[str, Any]:
    items = [{"id": i + 1, "created": f.pop("at"), "score": None, "label": None,
              "correction": None, "comment": None, **f} for i, f in enumerate(feedback)]
    return {"id": rid, "inputs": {"text": text}, "output": output, "feedback": items}


def test_corrections_then_labels_then_scores() -> None:
    logged = [
        _req("a", "A", "pos", {"at": 1, "correction": "neg", "label": "other"}),
        _req("b", "B", "pos", {"at": 2, "label": "neutral"}),
        _req("c", "C", "pos", {"at": 3, "score": 0.9}),
        _req("d", "D", "pos", {"at": 4, "score": 0.2}),
        _req("e", "E", "pos", {"at": 5, "comment": "hm"}),
        _req("f", "F", "pos"),
    ]
    out = harvest_rows(logged, min_score=0.8, target_field="gold")
    assert out.rows == [{"text": "A", "gold": "neg"}, {"text": "B", "gold": "neutral"},
                        {"text": "C", "gold": "pos"}]
    assert (out.requests, out.no_target, out.duplicates) == (5, 2, 0)


def test_scores_alone_harvest_nothing_without_a_threshold() -> None:
    out = harvest_rows([_req("c", "C", "pos", {"at": 3, "score": 1.0})])
    assert out.rows == [] and out.no_target == 1


def test_duplicate_inputs_keep_the_latest_feedback() -> None:
    logged = [
        _req("new", "same", "x", {"at": 10, "correction": "late"}),
        _req("old", "same", "x", {"at": 5, "correction": "early"}),
        _req("mixed", "other", "x", {"at": 1, "correction": "fixed"}, {"at": 2, "score": 0.0}),
    ]
    out = harvest_rows(logged, min_score=0.5)
    assert out.rows == [{"text": "other", "label": "fixed"}, {"text": "same", "label": "late"}]
    assert out.duplicates == 1 and out.sources[next(iter(out.sources))] == "mixed"
