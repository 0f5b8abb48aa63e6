"""Turn production feedback into dataset rows (pure: logged request dicts in, rows out).

For each request, every feedback item may name a target: a correction is the target; else a
label is; else a score at or above ``min_score`` keeps the model's output as the target. Rows
are the request's inputs plus ``target_field``. Requests with the same inputs give one row: the
latest feedback that names a target wins.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Harvest:
    rows: list[dict[str, Any]]
    requests: int  # requests with feedback that were looked at
    duplicates: int  # rows dropped because later feedback on the same inputs won
    no_target: int  # requests whose feedback named no target (low scores, comments only)
    sources: dict[str, str] = field(default_factory=dict)  # inputs key -> request id kept


def target_of(item: dict[str, Any], output: str | None, min_score: float | None) -> str | None:
    """The target one feedback item names, or None."""
    if item.get("correction") is not None:
        return str(item["correction"])
    if item.get("label") is not None:
        return str(item["label"])
    score = item.get("score")
    if score is not None and min_score is not None and score >= min_score and output is not None:
        return output
    return None


def harvest_rows(requests: Iterable[dict[str, Any]], *, min_score: float | None = None,
                 target_field: str = "label") -> Harvest:
    """Rows for a dataset from logged requests (each with its ``feedback`` list)."""
    best: dict[str, tuple[tuple[float, int], dict[str, Any], str]] = {}
    seen = no_target = candidates = 0
    for request in requests:
        if not request.get("feedback"):
            continue
        seen += 1
        named = [(item["created"], item["id"], target) for item in request["feedback"]
                 if (target := target_of(item, request.get("output"), min_score)) is not None]
        if not named:
            no_target += 1
            continue
        created, fid, target = max(named)
        key = json.dumps(request["inputs"], sort_keys=True, ensure_ascii=False)
        row = {**request["inputs"], target_field: target}
        candidates += 1
        if key not in best or (created, fid) > best[key][0]:
            best[key] = ((created, fid), row, request["id"])
    ordered = sorted(best.items(), key=lambda item: item[1][0])
    return Harvest(rows=[row for _, (_, row, _) in ordered], requests=seen,
                   duplicates=candidates - len(best), no_target=no_target,
                   sources={key: rid for key, (_, _, rid) in ordered})
