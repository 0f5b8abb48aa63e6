"""``honed keys``, ``honed log`` and ``honed harvest``, in-process through ``main``."""

from __future__ import annotations

import csv
import io
import json
import time
from pathlib import Path

import pytest

from honed.cli.app import main
from honed.cli.log_cmd import parse_since
from honed.engine.session import honed_home
from honed.store import open_store


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.fixture
def seeded() -> None:
    now = time.time()
    with open_store(home=honed_home()) as store:
        for rid, text, created in (("r1", "good", now - 3 * 86400), ("r2", "bad", now - 60),
                                   ("r3", "bad", now - 30), ("r4", "meh", now - 10)):
            store.log_request({"id": rid, "prompt": "sentiment", "version": 1,
                               "inputs": {"text": text}, "output": "positive",
                               "created": created})
        store.log_request({"id": "s1", "prompt": "summary", "version": 2,
                           "inputs": {"doc": "x"}, "output": "y", "created": now})
        store.add_feedback("r1", score=1.0)
        store.add_feedback("r2", correction="neutral")
        store.add_feedback("r3", correction="negative")  # later feedback on the same inputs
        store.add_feedback("r4", score=0.0, comment="wrong")


def test_keys_create_list_revoke(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "keys", "create", "--scope", "serve", "--name", "web")
    assert code == 0
    plaintext = out.strip().splitlines()[-1]
    assert plaintext.startswith("hnd_") and " " not in plaintext
    code, out, _ = run(capsys, "keys", "list", "--json")
    [key] = json.loads(out)["keys"]
    assert key["name"] == "web" and key["scope"] == "serve" and key["revoked_at"] is None
    assert plaintext not in out and "hash" not in out
    code, out, _ = run(capsys, "keys", "list")
    assert code == 0 and key["id"] in out and plaintext not in out
    assert run(capsys, "keys", "revoke", key["id"])[0] == 0
    with open_store(home=honed_home()) as store:
        assert store.check_key(plaintext, "serve") is None


def test_keys_errors_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "keys", "create", "--scope", "root")
    assert code == 2 and "root" in err and "admin" in err
    code, _, err = run(capsys, "keys", "revoke", "key_nope")
    assert code == 2 and "key_nope" in err


@pytest.mark.usefixtures("seeded")
def test_log_filters_and_formats(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "log", "--json")
    assert code == 0 and [r["id"] for r in json.loads(out)["requests"]] == [
        "s1", "r4", "r3", "r2", "r1"]
    _, out, _ = run(capsys, "log", "--json", "--prompt", "sentiment", "--since", "2h",
                    "--with-feedback", "--limit", "2")
    assert [r["id"] for r in json.loads(out)["requests"]] == ["r4", "r3"]
    _, out, _ = run(capsys, "log", "--json", "--version", "2")
    assert [r["id"] for r in json.loads(out)["requests"]] == ["s1"]
    _, out, _ = run(capsys, "log", "--csv", "--prompt", "sentiment")
    rows = list(csv.DictReader(io.StringIO(out)))
    assert [r["id"] for r in rows] == ["r4", "r3", "r2", "r1"]
    assert json.loads(rows[1]["feedback"])[0]["correction"] == "negative"
    code, out, _ = run(capsys, "log")
    assert code == 0 and "r4" in out
    code, _, err = run(capsys, "log", "--since", "yesterday-ish")
    assert code == 2 and "--since" in err


def test_parse_since() -> None:
    assert parse_since("2h", now=10_000.0) == 10_000.0 - 7200
    assert parse_since("7d", now=1e6) == 1e6 - 7 * 86400
    assert parse_since("2025-01-31T00:00:00+00:00") == 1738281600.0
    assert parse_since(None) is None


@pytest.mark.usefixtures("seeded")
def test_harvest_writes_deduplicated_rows(capsys: pytest.CaptureFixture[str],
                                          tmp_path: Path) -> None:
    out_file = tmp_path / "harvest" / "data.jsonl"
    code, out, err = run(capsys, "harvest", "sentiment", "-o", str(out_file))
    assert code == 0, err
    assert out.startswith("wrote 1 rows") and "1 duplicate" in out
    rows = [json.loads(line) for line in out_file.read_text().splitlines()]
    assert rows == [{"text": "bad", "label": "negative"}]
    assert "--min-feedback" in err
    code, _, err = run(capsys, "harvest", "sentiment", "-o", str(out_file))
    assert code == 2 and "--force" in err  # never overwrite without --force
    code, _, _ = run(capsys, "harvest", "sentiment", "-o", str(out_file), "--force",
                     "--min-feedback", "0.5", "--label-field", "gold")
    assert code == 0
    rows = [json.loads(line) for line in out_file.read_text().splitlines()]
    assert rows == [{"text": "good", "gold": "positive"}, {"text": "bad", "gold": "negative"}]
    code, _, _ = run(capsys, "harvest", "sentiment", "-o", str(out_file), "--force",
                     "--since", "1h")
    assert [json.loads(x) for x in out_file.read_text().splitlines()] == [
        {"text": "bad", "label": "negative"}]


@pytest.mark.usefixtures("seeded")
@pytest.mark.parametrize("task_in_parent", [False, True])
def test_harvest_refuses_a_test_split(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                      task_in_parent: bool) -> None:
    data = tmp_path / "data"
    data.mkdir()
    task = (tmp_path if task_in_parent else data) / "task.yaml"
    test_ref = "data/test.jsonl" if task_in_parent else "test.jsonl"
    task.write_text(f"name: t\ndata:\n  train: train.jsonl\n  test: {test_ref}\n")
    (tmp_path / "broken.yaml").write_text("a: [unclosed\n")  # unreadable YAML is skipped
    target = data / "test.jsonl"
    code, _, err = run(capsys, "harvest", "sentiment", "-o", str(target), "--force")
    assert code == 2 and "test split" in err and "task.yaml" in err
    assert not target.exists()
    code, _, _ = run(capsys, "harvest", "sentiment", "-o", str(data / "train.jsonl"))
    assert code == 0
