"""What an alignment shows: a judge's agreement with people on the held-out labels (before and
after), the change in kappa with its paired bootstrap CI, and the largest disagreements left,
with the judge's reason and the person's comment.

A judge's answer that names no label is counted apart (``unparsed``) and, in the statistics, as
its own label ``(none)``, which never agrees with anyone.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from honed.evals.judge import stated_reason
from honed.evals.normalize import shorten
from honed.lifecycle.judges.judge_task import HUMAN, item_key
from honed.lifecycle.judges.ratings import Scale
from honed.optimizers.base import Scored
from honed.stats.agreement import Agreement, agreement, paired_kappa_diff

NONE = "(none)"
SNIPPET = 160


@dataclass(frozen=True)
class Verdict:
    """One held-out row as a judge saw it."""

    row: Mapping[str, Any]
    label: str | None  # None: the answer names no label
    output: str
    error: str | None = None

    @property
    def shown(self) -> str:
        return self.label if self.label is not None else NONE


def verdicts(scored: Scored | None, rows: Sequence[Mapping[str, Any]],
             scale: Scale) -> list[Verdict] | None:
    """The judge's label per held-out row, in row order (None: not evaluated on test)."""
    if scored is None:
        return None
    by_id = {r.example_id: r for r in scored.results}
    found = []
    for row in rows:
        result = by_id.get(str(row["id"]))
        if result is None:
            continue
        text = result.output or ""
        found.append(Verdict(row, scale.judge.parse(text) if text else None, text,
                             result.error))
    return found


def side(judged: Sequence[Verdict] | None, scale: Scale, seed: int) -> dict[str, Any] | None:
    """Agreement of one judge on the held-out rows, and its unparsed answers and errors."""
    if not judged:
        return None
    stats = _agreement([v.row[HUMAN] for v in judged], [v.shown for v in judged],
                       [item_key(v.row) for v in judged], scale, seed)
    return {**stats.to_dict(), "unparsed": sum(1 for v in judged if v.label is None),
            "errors": sum(1 for v in judged if v.error)}


def _agreement(human: Sequence[str], judge: Sequence[str], items: Sequence[str], scale: Scale,
               seed: int) -> Agreement:
    clean = NONE not in judge
    labels = [*scale.labels, *([] if clean else [NONE])]
    return agreement(human, judge, labels=labels, numeric=scale.judge.numeric and clean,
                     ordinal=scale.ordinal and clean, items=items, seed=seed)


def kappa_change(before: Sequence[Verdict] | None, after: Sequence[Verdict] | None,
                 scale: Scale, seed: int) -> dict[str, Any] | None:
    """kappa(after) - kappa(before) on the same held-out rows, and its paired bootstrap CI."""
    if not before or not after:
        return None
    later = {str(v.row["id"]): v for v in after}
    pairs = [(b, later[str(b.row["id"])]) for b in before if str(b.row["id"]) in later]
    if not pairs:
        return None
    judge = [v.shown for pair in pairs for v in pair]
    labels = [*scale.labels, *([NONE] if NONE in judge else [])]
    diff, ci = paired_kappa_diff([b.row[HUMAN] for b, _ in pairs], [b.shown for b, _ in pairs],
                                 [a.shown for _, a in pairs], labels=labels,
                                 groups=[item_key(b.row) for b, _ in pairs], seed=seed)
    finite = not math.isnan(diff)
    return {"diff": diff if finite else None, "ci95": list(ci) if finite else None,
            "n": len(pairs)}


def disagreements(judged: Sequence[Verdict] | None, scale: Scale,
                  top: int) -> list[dict[str, Any]]:
    """The ``top`` held-out rows where the judge is furthest from the person (steps along the
    scale; an answer without a label is furthest), with the judge's reason."""
    if not judged or top <= 0:
        return []
    labels = list(scale.labels)

    def distance(v: Verdict) -> int:
        if v.label is None:
            return len(labels)
        return abs(labels.index(v.label) - labels.index(str(v.row[HUMAN])))

    wrong = [(distance(v), i, v) for i, v in enumerate(judged) if v.shown != v.row[HUMAN]]
    wrong.sort(key=lambda t: (-t[0], t[1]))
    return [{"id": v.row["id"], "input": shorten(str(v.row["input"]), SNIPPET),
             "output": shorten(str(v.row["output"]), SNIPPET), "human": v.row[HUMAN],
             "judge": v.shown, "distance": d,
             "reason": v.error or stated_reason(v.output),
             "comment": v.row.get("comment")} for d, _, v in wrong[:top]]
