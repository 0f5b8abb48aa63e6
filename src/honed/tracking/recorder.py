"""Subscribers that record a run from its events: ``RunRecorder`` (the run store),
``Trajectory`` (in memory, for MLflow and tests); and the evaluation service's checkpoints in
the run store (what a ``--resume`` replays)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from honed.tracking.events import CandidateEvaluated, CandidateProposed, Event
from honed.tracking.store import RunStore


def step_row(seq: int, event: CandidateEvaluated) -> dict[str, Any]:
    """A step as the run store keeps it."""
    return {"seq": seq, "iteration": event.iteration, "phase": event.phase,
            "candidate_id": event.candidate_id, "split": event.split, "score": event.score,
            "n": event.n, "accepted": int(event.accepted), "best_so_far": event.best_so_far,
            "rollouts": event.calls, "cost_usd": event.cost_usd, "note": event.note}


def candidate_row(event: CandidateProposed) -> dict[str, Any]:
    """A candidate as the run store lists it."""
    return {"id": event.candidate.id, **event.candidate.to_dict(), "parent": event.parent,
            "origin": event.origin}


class Trajectory:
    """A callback keeping a run's steps and candidates in memory, as the run store has them."""

    def __init__(self) -> None:
        self.steps: list[dict[str, Any]] = []
        self.candidates: dict[str, dict[str, Any]] = {}

    def __call__(self, event: Event) -> None:
        if isinstance(event, CandidateProposed):
            self.candidates.setdefault(event.candidate.id, candidate_row(event))
        elif isinstance(event, CandidateEvaluated):
            self.steps.append(step_row(len(self.steps) + 1, event))


class RunRecorder:
    """A callback writing ``CandidateProposed`` and ``CandidateEvaluated`` events of one run
    to the run store (steps numbered in order, so a resumed run rewrites them identically)."""

    def __init__(self, store: RunStore, run_id: str) -> None:
        self.store, self.run_id = store, run_id
        self._seq = 0

    def __call__(self, event: Event) -> None:
        if isinstance(event, CandidateProposed):
            self.store.add_candidate(self.run_id, event.candidate, parent=event.parent,
                                     origin=event.origin)
        elif isinstance(event, CandidateEvaluated):
            self._seq += 1
            row = step_row(self._seq, event)
            self.store.add_step(self.run_id, row.pop("seq"), **row)


class RunCheckpoints:
    """The evaluation service's checkpoints (``engine.service.Checkpoints``) in the run store."""

    def __init__(self, store: RunStore, run_id: str) -> None:
        self.store, self.run_id = store, run_id

    def load(self, key: str) -> Mapping[str, Any] | None:
        return self.store.evaluation(self.run_id, key)

    def save(self, key: str, record: Mapping[str, Any]) -> None:
        self.store.save_evaluation(self.run_id, key, **record)
