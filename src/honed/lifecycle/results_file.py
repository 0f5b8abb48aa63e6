"""Per-example results of ``honed eval --output FILE``: every example's inputs, output, score,
each eval's score, verdict and feedback, tokens, latency and cost, as JSON Lines (``.jsonl``),
one JSON array (``.json``) or CSV (``.csv``, one column per input field and per eval). The file
is written whole or not at all."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from honed.errors import ConfigError

FORMATS = (".jsonl", ".json", ".csv")
_FIELD = "--output"


def check_output(path: Path) -> Path:
    """``path`` if results can be written there (checked before anything is evaluated), else a
    ConfigError naming it."""
    if path.suffix.lower() not in FORMATS:
        raise ConfigError(f"cannot tell the format of {str(path)!r} from its extension",
                          field=_FIELD, fix="end the file name with .jsonl, .json or .csv")
    if not path.parent.is_dir():
        raise ConfigError(f"folder {str(path.parent)!r} does not exist", field=_FIELD,
                          fix="create it first, or write somewhere else")
    if path.is_dir():
        raise ConfigError(f"{str(path)!r} is a folder", field=_FIELD, fix="give a file name")
    return path


def write_results(path: Path, rows: Sequence[Mapping[str, Any]]) -> Path:
    """Write ``rows`` (``EvalRun.rows()``) in the format ``path``'s extension names."""
    from honed.lifecycle.apply import atomic_write

    suffix = check_output(path).suffix.lower()
    if suffix == ".csv":
        text = _csv(rows)
    elif suffix == ".json":
        text = json.dumps(list(rows), ensure_ascii=False, indent=1) + "\n"
    else:
        text = "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)
    try:
        atomic_write(path, text)
    except OSError as exc:
        raise ConfigError(f"cannot write {str(path)!r}: {exc.strerror or exc}", field=_FIELD,
                          fix="check the folder's permissions and free space") from None
    return path


def _csv(rows: Sequence[Mapping[str, Any]]) -> str:
    inputs = list(dict.fromkeys(k for row in rows for k in row["inputs"]))
    evals = list(dict.fromkeys(k for row in rows for k in row["evals"]))
    head = ["id", "split", *(f"input.{k}" for k in inputs), "output", "score", "passed",
            "error", *(f"eval.{e}.{part}" for e in evals for part in ("score", "passed",
                                                                      "feedback")),
            "input_tokens", "output_tokens", "latency_s", "cost_usd", "cached"]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(head)
    for row in rows:
        scored = row["evals"]
        writer.writerow([
            row["id"], row["split"], *(_cell(row["inputs"].get(k)) for k in inputs),
            row["output"], _cell(row["score"]), _cell(row["passed"]), _cell(row["error"]),
            *(_cell((scored.get(e) or {}).get(part)) for e in evals
              for part in ("score", "passed", "feedback")),
            row["input_tokens"], row["output_tokens"], row["latency_s"], row["cost_usd"],
            _cell(row["cached"])])
    return out.getvalue()


def _cell(value: Any) -> Any:
    """A CSV cell: empty for None, JSON for lists and objects, the value otherwise."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | dict):
        return json.dumps(value, ensure_ascii=False)
    return value
