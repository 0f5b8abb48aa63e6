"""``honed init``: each starter task runs as it is, on the embedded model."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from honed.cli.app import main
from honed.lifecycle.scaffold import KINDS


def _json(capsys: pytest.CaptureFixture[str], *args: str) -> dict:
    code = main([*args, "--json"])
    out = capsys.readouterr()
    assert code == 0, out.err
    return json.loads(out.out)


@pytest.mark.model
@pytest.mark.parametrize("kind", KINDS)
def test_each_starter_evaluates_on_the_embedded_model(
        kind: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / kind
    assert main(["init", kind, str(folder)]) == 0
    out = capsys.readouterr().out
    assert f"honed eval {folder / 'task.yaml'}" in out
    rows = (folder / "data.jsonl").read_text().splitlines()
    assert len(rows) == 12 and "#" in (folder / "task.yaml").read_text()
    data = _json(capsys, "eval", str(folder / "task.yaml"), "--split", "all")
    assert data["n"] == 12 and data["errors"] == 0 and data["model"] == "local"


@pytest.mark.model
def test_a_starter_optimizes_on_the_embedded_model(tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["init", "qa", str(tmp_path / "qa")]) == 0
    capsys.readouterr()
    data = _json(capsys, "optimize", str(tmp_path / "qa" / "task.yaml"), "--max-calls", "40")
    assert data["best"]["test"]["n"] == 3 and data["calls"] <= 40
    assert Path(data["output"]).exists()


def test_init_never_overwrites_and_names_bad_kinds(tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["init", "classification", str(tmp_path)]) == 0
    before = (tmp_path / "task.yaml").read_text()
    (tmp_path / "task.yaml").write_text(before + "# my edits\n")
    assert main(["init", "qa", str(tmp_path)]) == 2
    assert "would overwrite" in capsys.readouterr().err
    assert (tmp_path / "task.yaml").read_text().endswith("# my edits\n")
    assert main(["init", "poetry", str(tmp_path / "x")]) == 2
    assert "classification, extraction, qa" in capsys.readouterr().err
