"""Datasets: JSON Lines, CSV or inline rows; train/val/test splits with reported carving."""

from __future__ import annotations

import csv
import json
import random
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from honed.errors import DatasetError
from honed.types import Example, content_hash

SPLITS = ("train", "val", "test")


@dataclass(frozen=True)
class Splits:
    train: tuple[Example, ...]
    val: tuple[Example, ...]
    test: tuple[Example, ...]
    carving: str = ""  # human-readable note when val/test were carved from train

    def get(self, name: str) -> tuple[Example, ...]:
        if name == "all":
            return self.train + self.val + self.test
        if name not in SPLITS:
            raise DatasetError(f"unknown split {name!r}", fix="use train, val, test or all")
        return getattr(self, name)

    def by_id(self) -> dict[str, Example]:
        return {ex.id: ex for ex in self.train + self.val + self.test}


def _read_text(path: Path) -> str:
    if not path.exists():
        raise DatasetError("dataset file not found", file=str(path),
                           fix="check the path (relative paths resolve against the task file)")
    if path.is_dir():
        raise DatasetError("expected a file, found a directory", file=str(path))
    try:
        return path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DatasetError(f"not UTF-8 (byte {exc.start})", file=str(path),
                           fix="re-save the file as UTF-8") from None


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    rows = []
    for number, line in enumerate(_read_text(path).splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DatasetError(f"invalid JSON: {exc.msg}", file=str(path), line=number,
                               fix="each line must be one JSON object") from None
        if not isinstance(row, dict):
            raise DatasetError(f"expected a JSON object, got {type(row).__name__}",
                               file=str(path), line=number)
        rows.append(row)
    return rows


def _read_csv(path: Path) -> list[dict[str, Any]]:
    text = _read_text(path)
    reader = csv.DictReader(text.splitlines())
    if not reader.fieldnames:
        raise DatasetError("CSV file has no header row", file=str(path))
    rows = []
    for row in reader:
        if None in row:
            raise DatasetError("row has more cells than the header", file=str(path),
                               line=reader.line_num)
        rows.append(dict(row))
    return rows


def read_rows(path: Path) -> list[dict[str, Any]]:
    suffix = path.suffix.lower()
    if suffix in (".jsonl", ".ndjson"):
        return _read_jsonl(path)
    if suffix == ".csv":
        return _read_csv(path)
    if suffix == ".json":
        data = json.loads(_read_text(path))
        if isinstance(data, list) and all(isinstance(r, dict) for r in data):
            return data
        raise DatasetError("a .json dataset must be a list of objects", file=str(path))
    raise DatasetError(f"unsupported dataset format {suffix or '(none)'!r}", file=str(path),
                       fix="use .jsonl, .csv or .json")


def to_examples(rows: Sequence[Mapping[str, Any]], source: str,
                id_field: str | None = None) -> tuple[Example, ...]:
    if not rows:
        raise DatasetError("dataset is empty", file=source, fix="add at least one example")
    examples, seen = [], set()
    for index, row in enumerate(rows):
        if id_field and id_field not in row:
            raise DatasetError(f"row {index + 1} has no id field {id_field!r}", file=source)
        base = str(row[id_field]) if id_field else content_hash(row, 12)
        ex_id, n = base, 1
        while ex_id in seen:  # duplicate rows keep distinct, stable ids
            n += 1
            ex_id = f"{base}-{n}"
        seen.add(ex_id)
        examples.append(Example(ex_id, dict(row)))
    return tuple(examples)


def carve(examples: Sequence[Example], fraction: float, seed: int,
          ) -> tuple[tuple[Example, ...], tuple[Example, ...]]:
    """Split off ``fraction`` of the examples with a fixed seed: (rest, carved)."""
    order = list(range(len(examples)))
    random.Random(seed).shuffle(order)
    k = round(len(examples) * fraction)
    if fraction > 0:
        k = max(1, min(k, len(examples) - 1))
    carved = sorted(order[:k])
    rest = sorted(order[k:])
    return tuple(examples[i] for i in rest), tuple(examples[i] for i in carved)


def field_names(examples: Iterable[Example]) -> set[str]:
    names: set[str] = set()
    for ex in examples:
        names.update(ex.fields)
    return names
