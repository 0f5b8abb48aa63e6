"""A cycle's data: production feedback harvested into rows, split by a hash of each row's input
into a frozen test part (the same input is test in every cycle, so it is never trained on) and
train/val for the search."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from honed.loop.config import LoopConfig

DAY_S = 86_400.0


@dataclass(frozen=True)
class Harvested:
    train: list[dict[str, Any]]
    val: list[dict[str, Any]]
    test: list[dict[str, Any]]
    requests: int  # requests with feedback read

    @property
    def rows(self) -> int:
        return len(self.train) + len(self.val) + len(self.test)

    def to_dict(self) -> dict[str, Any]:
        return {"rows": self.rows, "train": len(self.train), "val": len(self.val),
                "test": len(self.test), "requests": self.requests}


def _unit(row: Mapping[str, Any], target: str, salt: str) -> float:
    inputs = {k: v for k, v in row.items() if k != target}
    key = json.dumps(inputs, sort_keys=True, ensure_ascii=False)
    digest = hashlib.sha256(f"{salt}:{key}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def split_rows(rows: Sequence[dict[str, Any]], target: str, config: LoopConfig
               ) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]]]:
    """Frozen test by a hash of the input (salted with the loop's name); the rest into val and
    train by a second hash."""
    settings, name = config.harvest, config.loop_name
    test = [r for r in rows if _unit(r, target, f"{name}:test") < settings.test_share]
    rest = [r for r in rows if _unit(r, target, f"{name}:test") >= settings.test_share]
    val = [r for r in rest if _unit(r, target, f"{name}:val") < settings.val_share]
    train = [r for r in rest if _unit(r, target, f"{name}:val") >= settings.val_share]
    return train, val, test


def harvest(log_store: Any, config: LoopConfig, target: str, now: float) -> Harvested:
    """The most recent ``max_rows`` rows with a target from the prompt's feedback."""
    from honed.store import harvest_rows

    logged = log_store.requests(prompt=config.prompt, since=now - config.harvest.days * DAY_S,
                                with_feedback=True)
    found = harvest_rows(logged, min_score=config.harvest.min_score, target_field=target)
    rows = found.rows[-config.harvest.max_rows:]
    return Harvested(*split_rows(rows, target, config), requests=found.requests)
