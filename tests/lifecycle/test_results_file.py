"""``honed eval --output``'s writer: formats by extension, flattened CSV, whole or nothing."""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path

import pytest

from honed.errors import ConfigError
from honed.lifecycle.results_file import check_output, write_results

ROWS = [
    {"id": "a", "split": "test", "inputs": {"text": "hi, \"you\"", "tags": ["x", "y"]},
     "output": "=SUM(1)\nsecond line", "score": 1.0, "passed": True, "error": None,
     "error_kind": None, "evals": {"exact": {"score": 1.0, "passed": True, "feedback": ""}},
     "input_tokens": 3, "output_tokens": 2, "latency_s": 0.1, "cost_usd": 0.0,
     "cached": False},
    {"id": "b", "split": "test", "inputs": {"text": "other"}, "output": "", "score": None,
     "passed": False, "error": "timeout", "error_kind": "provider", "evals": {},
     "input_tokens": 0, "output_tokens": 0, "latency_s": 0.0, "cost_usd": 0.0,
     "cached": False},
]


def test_the_three_formats_hold_the_same_rows(tmp_path: Path) -> None:
    lines = write_results(tmp_path / "r.jsonl", ROWS)
    assert [json.loads(x) for x in lines.read_text(encoding="utf-8").splitlines()] == ROWS
    whole = write_results(tmp_path / "r.JSON", ROWS)
    assert json.loads(whole.read_text(encoding="utf-8")) == ROWS
    table = write_results(tmp_path / "r.csv", ROWS)
    with table.open(newline="", encoding="utf-8") as handle:
        read = list(csv.DictReader(handle))
    assert read[0]["input.text"] == 'hi, "you"' and json.loads(read[0]["input.tags"]) == [
        "x", "y"]
    assert read[0]["output"] == "=SUM(1)\nsecond line"  # quoted, kept as it was
    assert read[0]["eval.exact.passed"] == "true" and read[1]["eval.exact.score"] == ""
    assert read[1]["input.tags"] == "" and read[1]["error"] == "timeout"
    assert read[1]["score"] == "" and read[1]["passed"] == "false"


def test_bad_paths_are_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="extension"):
        check_output(tmp_path / "r.xlsx")
    with pytest.raises(ConfigError, match="does not exist"):
        check_output(tmp_path / "no" / "r.csv")
    (tmp_path / "d.csv").mkdir()
    with pytest.raises(ConfigError, match="is a folder"):
        check_output(tmp_path / "d.csv")


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes through a read-only folder")
def test_an_unwritable_folder_is_a_clear_error(tmp_path: Path) -> None:
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o500)
    try:
        with pytest.raises(ConfigError, match="cannot write"):
            write_results(folder / "r.csv", ROWS)
    finally:
        folder.chmod(0o700)


def test_a_failed_write_leaves_the_old_file(tmp_path: Path, monkeypatch) -> None:
    import honed.lifecycle.apply as apply

    target = write_results(tmp_path / "r.jsonl", ROWS[:1])
    before = target.read_text(encoding="utf-8")

    def broken(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(apply.os, "replace", broken)
    with pytest.raises(ConfigError, match="No space left"):
        write_results(target, ROWS)
    assert target.read_text(encoding="utf-8") == before
    assert [p.name for p in tmp_path.iterdir()] == ["r.jsonl"]  # no temporary file left
