"""Builders for monitor tests: a production log on a real SQLite file, filled with requests
whose correctness (by feedback label) and labels follow a script."""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from honed.store import LogStore, open_store

LABELS = ["billing", "card", "refund", "transfer"]


@pytest.fixture
def store(tmp_path: Path) -> Iterator[LogStore]:
    with open_store(f"sqlite:///{tmp_path / 'log.sqlite'}") as opened:
        yield opened


def fill(store: LogStore, n: int, *, p_right: float, seed: int, start: float = 1_000.0,
         version: int = 1, labels: list[str] | None = None, prefix: str = "r",
         feedback: bool = True) -> list[dict[str, Any]]:
    """Log ``n`` requests one second apart; each answer is right with ``p_right`` and gets a
    feedback label (the truth) when ``feedback``."""
    rng, labels = random.Random(seed), labels or LABELS
    rows, truths = [], []
    for i in range(n):
        truth = rng.choice(labels)
        output = truth if rng.random() < p_right else next(x for x in LABELS if x != truth)
        rows.append({"id": f"{prefix}{i}", "created": start + i, "prompt": "support",
                     "version": version, "alias": "production",
                     "inputs": {"text": f"about {truth} " + "word " * rng.randint(1, 6)},
                     "output": output, "error": None, "latency_s": 0.05, "input_tokens": 10,
                     "output_tokens": 1, "cost_usd": 0.0001, "user_id": None, "metadata": {},
                     "arm": None})
        truths.append(truth)
    store.log_requests(rows)
    if feedback:
        for row, truth in zip(rows, truths, strict=True):
            store.add_feedback(row["id"], label=truth)
    return rows
