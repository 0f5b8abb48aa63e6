"""Datasets: JSON Lines, CSV or inline rows; train/val/test splits with reported carving."""

from __future__ import annotations

import csv
import io
import json
import random
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from honed.errors import DatasetError
from honed.task.textfile import read_text
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
    return read_text(path, DatasetError, "dataset file")


class _DuplicateKey(ValueError):
    pass


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj: dict[str, Any] = {}
    for key, value in pairs:
        if key in obj:
            raise _DuplicateKey(key)
        obj[key] = value
    return obj


def _parse_json(text: str, path: Path, line: int | None, fix: str) -> Any:
    """``json.loads`` whose every failure (syntax, a duplicate key, an integer too long to
    convert, nesting too deep) becomes a DatasetError naming the file and line."""
    try:
        return json.loads(text, object_pairs_hook=_no_duplicates)
    except json.JSONDecodeError as exc:
        where = line if line is not None else exc.lineno
        raise DatasetError(f"invalid JSON: {exc.msg}", file=str(path), line=where,
                           fix=fix) from None
    except _DuplicateKey as exc:
        raise DatasetError(f"duplicate key {exc.args[0]!r} in one object", file=str(path),
                           line=line, fix="keep one value per key") from None
    except (ValueError, RecursionError) as exc:
        reason = "nested too deeply" if isinstance(exc, RecursionError) else str(exc)
        raise DatasetError(f"invalid JSON: {reason}", file=str(path), line=line,
                           fix=fix) from None


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    rows = []
    # split on "\n" only: JSON strings may hold U+2028 and other characters splitlines() breaks on
    for number, line in enumerate(_read_text(path).split("\n"), start=1):
        if not line.strip():
            continue
        row = _parse_json(line, path, number, "each line must be one JSON object")
        if not isinstance(row, dict):
            raise DatasetError(f"expected a JSON object, got {_kind(row)}", file=str(path),
                               line=number, fix="each line must be one JSON object")
        rows.append(row)
    return rows


def _kind(value: Any) -> str:
    return {dict: "an object", list: "a list", str: "a string", type(None): "null",
            bool: "a boolean"}.get(type(value), "a number")


def _read_csv(path: Path) -> list[dict[str, Any]]:
    text = _read_text(path)
    if not text.strip():
        return []
    reader = csv.DictReader(io.StringIO(text, newline=""), strict=True)
    try:
        _check_header(reader.fieldnames, path)
        return [row for row in (_csv_row(row, reader.line_num, path) for row in reader)
                if row is not None]
    except csv.Error as exc:
        raise DatasetError(f"invalid CSV: {exc}", file=str(path), line=reader.line_num,
                           fix=_csv_fix(str(exc))) from None


def _check_header(names: Sequence[str] | None, path: Path) -> None:
    if not names:
        raise DatasetError("CSV file has no header row", file=str(path), line=1,
                           fix="the first line names the columns, e.g. text,label")
    dupes = sorted({n for n in names if list(names).count(n) > 1})
    if dupes:
        raise DatasetError(f"duplicate column {dupes[0]!r} in the header", file=str(path),
                           line=1, fix="give every column a distinct name")


def _csv_row(row: dict[Any, Any], line: int, path: Path) -> dict[str, Any] | None:
    if None in row:
        raise DatasetError("row has more cells than the header", file=str(path), line=line,
                           fix="quote cells that contain commas")
    if all(v is None or not v.strip() for v in row.values()):
        return None  # a blank line
    if any(v is None for v in row.values()):
        raise DatasetError("row has fewer cells than the header", file=str(path), line=line,
                           fix="give every row one cell per column (empty cells: a,,c)")
    return dict(row)


def _csv_fix(reason: str) -> str:
    if "field limit" in reason:
        return "a cell is too long for CSV: use JSON Lines (.jsonl) for long texts"
    if "NUL" in reason:
        return "remove the NUL bytes (is the file binary or UTF-16?)"
    return "check the quoting on that line"


def _read_json(path: Path) -> list[dict[str, Any]]:
    text = _read_text(path)
    if not text.strip():
        return []
    fix = "a .json dataset is one list of objects: [{\"text\": ..., \"label\": ...}, ...]"
    data = _parse_json(text, path, None, fix)
    if not isinstance(data, list):
        raise DatasetError(f"a .json dataset must be a list of objects, not {_kind(data)}",
                           file=str(path), fix=fix)
    for index, row in enumerate(data):
        if not isinstance(row, dict):
            raise DatasetError(f"item {index + 1} is {_kind(row)}, not an object",
                               file=str(path), field=f"[{index}]", fix=fix)
    return data


def read_rows(path: Path) -> list[dict[str, Any]]:
    suffix = path.suffix.lower()
    if suffix in (".jsonl", ".ndjson"):
        return _read_jsonl(path)
    if suffix == ".csv":
        return _read_csv(path)
    if suffix == ".json":
        return _read_json(path)
    raise DatasetError(f"unsupported dataset format {suffix or '(none)'!r}", file=str(path),
                       fix="use .jsonl, .csv or .json")


def example_id(row: Mapping[str, Any], id_field: str | None = None) -> str:
    """The id of a row: its ``id_field`` when given, else a hash of its content."""
    if id_field and id_field in row:
        return str(row[id_field])
    return content_hash(dict(row), 12)


def to_examples(rows: Sequence[Mapping[str, Any]], source: str,
                id_field: str | None = None) -> tuple[Example, ...]:
    if not rows:
        raise DatasetError("dataset is empty", file=source, fix="add at least one example")
    examples, seen = [], set()
    for index, row in enumerate(rows):
        if id_field and id_field not in row:
            raise DatasetError(f"row {index + 1} has no id field {id_field!r}", file=source,
                               fix=f"give every row an {id_field!r}, or remove data.id_field")
        base = example_id(row, id_field)
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
