"""Rows of labels and the scale they use.

- ``read_ratings``: a judge's and people's labels of the same outputs (``honed judge agreement``):
  JSONL or CSV rows with ``human`` and ``judge``, and optionally ``rater`` (who labelled) and
  ``item`` or ``id`` (what was labelled, when several people labelled it);
- ``read_labelled`` / ``labelled_from_log``: people's labels of outputs to align a judge on
  (``honed judge align``): ``input``, ``output``, ``label`` or ``score`` (or ``human``) and an
  optional ``comment``, from a file or from the feedback in the production log;
- ``infer_scale``: the labels, low to high. Numbers sort by value; ``--order`` gives any scale;
  a known pair (fail/pass, no/yes, ...) is ordered; other labels sort alphabetically.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from honed.errors import ConfigError
from honed.evals.judge import JudgeScale, number_label
from honed.task.dataset import read_rows

MAX_LABELS = 20  # more distinct values than this is a continuous score, not a label scale
KNOWN_ORDERS = (("fail", "pass"), ("bad", "good"), ("no", "yes"), ("false", "true"),
                ("incorrect", "correct"), ("wrong", "right"), ("unacceptable", "acceptable"),
                ("reject", "accept"), ("negative", "positive"), ("unhelpful", "helpful"),
                ("unsafe", "safe"), ("low", "high"))
HUMAN_FIELDS = ("label", "score", "human")
ROWS_FIX = "each row needs input, output and the person's label (or score)"


@dataclass(frozen=True)
class Scale:
    """The labels low to high; ``ordinal``: their order is a scale (numbers, or ``--order``)."""

    judge: JudgeScale
    ordinal: bool
    note: str | None = None

    @property
    def labels(self) -> tuple[str, ...]:
        return self.judge.labels

    def to_dict(self) -> dict[str, Any]:
        return {"labels": list(self.labels), "numeric": self.judge.numeric,
                "ordinal": self.ordinal, **({"note": self.note} if self.note else {})}


def label_text(raw: Any, where: str, source: str) -> tuple[str, bool]:
    """A label's text and whether it is a number (numbers in canonical form: 4.0 -> ``4``)."""
    if isinstance(raw, bool):
        return str(raw).lower(), False
    if isinstance(raw, int | float):
        if not math.isfinite(raw):
            raise ConfigError(f"{where}: {raw!r} is not a usable label", file=source)
        return number_label(raw), True
    if isinstance(raw, str) and raw.strip():
        text = raw.strip()
        try:
            number = float(text)
        except ValueError:
            return text, False
        return (number_label(number), True) if math.isfinite(number) else (text, False)
    shown = "an empty value" if raw is None or raw == "" else type(raw).__name__
    raise ConfigError(f"{where}: the label is {shown}", file=source,
                      fix="give a label (text) or a number")


def labels_of(values: Sequence[Any], wheres: Sequence[str], source: str) -> tuple[list[str], bool]:
    """Texts of labels, as numbers when every one of them is a number."""
    parsed = [label_text(v, w, source) for v, w in zip(values, wheres, strict=True)]
    numeric = all(is_number for _, is_number in parsed) and bool(parsed)
    if numeric:
        return [text for text, _ in parsed], True
    return [v.strip() if isinstance(v, str) else text
            for v, (text, _) in zip(values, parsed, strict=True)], False


def parse_order(text: str | None) -> list[str] | None:
    """``--order LOW,...,HIGH`` as labels (None when not given)."""
    if text is None:
        return None
    order = [part.strip() for part in text.split(",") if part.strip()]
    if len(order) < 2 or len(set(order)) != len(order):
        raise ConfigError(f"--order {text!r} needs two or more distinct labels",
                          field="--order", fix="list the labels low to high: --order fail,pass")
    return order


def infer_scale(labels: Iterable[str], numeric: bool, order: Sequence[str] | None = None,
                ) -> Scale:
    """The scale of ``labels`` (see the module's docstring)."""
    seen = list(dict.fromkeys(labels))
    if order is not None:
        numeric = numeric and all(label_text(x, "--order", "--order")[1] for x in order)
        canonical = [_canonical(x, numeric) for x in order]
        unknown = [x for x in seen if x not in set(canonical)]
        if unknown:
            raise ConfigError(f"labels {unknown[:5]} are not in --order", field="--order",
                              fix=f"list every label low to high; the data has "
                                  f"{', '.join(sorted(seen)[:MAX_LABELS])}")
        return Scale(JudgeScale(tuple(canonical), numeric), ordinal=True)
    if numeric:
        return Scale(JudgeScale(tuple(sorted(seen, key=float)), True), ordinal=True)
    folded = {x.casefold(): x for x in seen}
    for low, high in KNOWN_ORDERS:
        if set(folded) == {low, high}:
            return Scale(JudgeScale((folded[low], folded[high])), ordinal=False)
    note = None
    if len(seen) > 1:
        note = ("labels ordered alphabetically (low to high); pass --order LOW,...,HIGH if "
                "they are a scale")
    return Scale(JudgeScale(tuple(sorted(seen))), ordinal=False, note=note)


def _canonical(label: str, numeric: bool) -> str:
    return label_text(label, "--order", "--order")[0] if numeric else label


# honed judge agreement ------------------------------------------------------------------------
@dataclass(frozen=True)
class Ratings:
    human: list[str]
    judge: list[str]
    scale: Scale
    source: str
    items: list[str] | None = None
    raters: list[str] | None = None


def _rows(path: Path) -> list[dict[str, Any]]:
    if not path.is_file():
        raise ConfigError("file not found", file=str(path),
                          fix="give a .jsonl or .csv file of labelled rows")
    return read_rows(path)


def read_ratings(path: Path, order: Sequence[str] | None = None) -> Ratings:
    """Rows with ``human`` and ``judge`` (and ``rater``, ``item``/``id``) from a file."""
    rows, source = _rows(path), str(path)
    if not rows:
        raise ConfigError("no rows", file=source, fix="one row per judged output: "
                          '{"human": "pass", "judge": "fail"}')
    wheres = [f"row {i}" for i in range(1, len(rows) + 1)]
    for where, row in zip(wheres, rows, strict=True):
        missing = [f for f in ("human", "judge") if f not in row]
        if missing:
            raise ConfigError(f"{where} has no {' or '.join(missing)} field", file=source,
                              fix='each row needs "human" and "judge" (labels or numbers)')
    values = [r["human"] for r in rows] + [r["judge"] for r in rows]
    labels, numeric = labels_of(values, wheres + wheres, source)
    human, judge = labels[:len(rows)], labels[len(rows):]
    items, raters = _groups(rows, wheres, source)
    return Ratings(human, judge, infer_scale(labels, numeric, order), source, items, raters)


def _groups(rows: Sequence[Mapping[str, Any]], wheres: Sequence[str], source: str,
            ) -> tuple[list[str] | None, list[str] | None]:
    """Items (``item``, else ``id``) and raters, when the rows have them."""
    key = "item" if any("item" in r for r in rows) else "id" if any("id" in r for r in rows) \
        else None
    has_raters = any("rater" in r for r in rows)
    if key is None:
        if has_raters:
            raise ConfigError("rows name a rater but not the item they rated", file=source,
                              field="item", fix="give every row an item (or id) field: rows "
                                                "of the same item share it")
        return None, None
    for where, row in zip(wheres, rows, strict=True):
        if key not in row or (has_raters and "rater" not in row):
            need = key if key not in row else "rater"
            raise ConfigError(f"{where} has no {need} field", file=source, field=need,
                              fix=f"give every row {key}" + (" and rater" if has_raters else ""))
    items = [str(r[key]) for r in rows]
    return items, ([str(r["rater"]) for r in rows] if has_raters else None)


def agreement_report(ratings: Ratings, *, seed: int = 0) -> dict[str, Any]:
    """Everything ``honed judge agreement`` shows, as plain data."""
    from honed.stats.agreement import agreement

    if len(ratings.human) < 2:
        raise ConfigError(f"{len(ratings.human)} row is too few to measure agreement",
                          file=ratings.source, fix="label more outputs")
    scale = ratings.scale
    result = agreement(ratings.human, ratings.judge, labels=list(scale.labels),
                       numeric=scale.judge.numeric, ordinal=scale.ordinal, items=ratings.items,
                       raters=ratings.raters, seed=seed)
    notes = [scale.note] if scale.note else []
    if len(scale.labels) > MAX_LABELS:
        notes.append(f"{len(scale.labels)} distinct values: kappa treats each as a category; "
                     "read Spearman's rho and the bias")
    return {"source": ratings.source, "scale": scale.to_dict(), **result.to_dict(),
            "notes": notes}


# honed judge align ----------------------------------------------------------------------------
@dataclass(frozen=True)
class Labelled:
    """One output a person labelled: what the task got (text or fields), what it answered,
    the person's label (as written) and their comment."""

    id: str
    input: str | Mapping[str, Any]
    output: str
    human: Any
    comment: str | None = None
    reference: str | None = None


def _text(value: Any) -> str:
    return value if isinstance(value, str) else str(value)


def read_labelled(path: Path) -> list[Labelled]:
    """Labelled outputs from a JSONL or CSV file (``id`` kept when every row has a unique one)."""
    rows, source = _rows(path), str(path)
    ids = [str(r.get("id", "")) for r in rows]
    unique = all(ids) and len(set(ids)) == len(ids)
    found = []
    for number, row in enumerate(rows, start=1):
        human_field = next((f for f in HUMAN_FIELDS if row.get(f) not in (None, "")), None)
        missing = [f for f in ("input", "output") if row.get(f) is None]
        if missing or human_field is None:
            what = ", ".join(missing + ([] if human_field else ["label (or score)"]))
            raise ConfigError(f"row {number} has no {what}", file=source, fix=ROWS_FIX)
        if not isinstance(row["input"], str | Mapping):
            raise ConfigError(f"row {number}: input must be text or an object of fields",
                              file=source, field="input", fix=ROWS_FIX)
        comment = row.get("comment")
        found.append(Labelled(ids[number - 1] if unique else f"row{number}", row["input"],
                              _text(row["output"]), row[human_field],
                              _text(comment) if comment not in (None, "") else None,
                              _text(row["reference"]) if row.get("reference") else None))
    return found


def labelled_from_log(requests: Iterable[Mapping[str, Any]]) -> list[Labelled]:
    """Labelled outputs from logged requests (``LogStore.requests(..., with_feedback=True)``):
    per request with an output, its latest feedback that gives a label, else a score."""
    found = []
    for request in requests:
        if request.get("output") is None:
            continue
        items = sorted(request.get("feedback") or (), key=lambda f: (f["created"], f["id"]))
        labelled = [f for f in items if f.get("label") not in (None, "")]
        scored = [f for f in items if f.get("score") is not None]
        chosen = (labelled or scored or [None])[-1]
        if chosen is None:
            continue
        human = chosen["label"] if labelled else chosen["score"]
        notes = [f["comment"] for f in items if f.get("comment")]
        found.append(Labelled(str(request["id"]), dict(request["inputs"]),
                              _text(request["output"]), human,
                              chosen.get("comment") or (notes[-1] if notes else None)))
    return found
