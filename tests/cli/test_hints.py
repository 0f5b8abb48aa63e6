"""Every hint honed prints is a command that works: each test provokes a hint, follows it as a
user would (placeholders filled in) and checks that the command it names succeeds."""

from __future__ import annotations

import json
import re
from pathlib import Path

from honed.cli.app import main


def _run(capsys, *args: str) -> tuple[int, str, str]:  # type: ignore[no-untyped-def]
    code = main(list(args))
    out = capsys.readouterr()
    return code, out.out, out.err


def _fix(err: str) -> str:
    match = re.search(r"fix: (.*)", err)
    assert match, err
    return match.group(1)


def _held_out(tmp_path: Path) -> None:
    (tmp_path / "data" / "test.jsonl").write_text("".join(
        json.dumps({"text": f"held out {i}", "label": "neutral"}) + "\n" for i in range(6)))


def test_apply_registry_ref_without_task_hint(make_task, tmp_path, capsys) -> None:
    task = make_task()
    _held_out(tmp_path)
    assert _run(capsys, "optimize", str(task), "--max-calls", "60", "--json")[0] == 0
    code, _, err = _run(capsys, "apply", "t@candidate")
    assert code == 2 and "--task TASK.yaml" in _fix(err)
    code, _out, err = _run(capsys, "apply", "t@candidate", "--task", str(task), "--dry-run")
    assert code == 0, err


def test_runs_and_resume_hints(make_task, tmp_path, capsys) -> None:
    code, _, err = _run(capsys, "runs", "show", "nope")
    assert code == 2 and _fix(err) == "honed runs list"
    assert _run(capsys, "runs", "list")[0] == 0
    task = make_task()
    _held_out(tmp_path)
    code, _, err = _run(capsys, "optimize", str(task), "--resume")
    assert code == 2 and _fix(err) == "run without --resume"
    assert _run(capsys, "optimize", str(task), "--max-calls", "60", "--json")[0] == 0
    code, out, err = _run(capsys, "runs", "show", "latest", "--json")
    assert code == 0 and json.loads(out)["status"] == "finished"
    run_id = json.loads(out)["run_id"]
    assert _run(capsys, "runs", "show", run_id[:17], "--json")[0] == 0  # a unique prefix


def test_run_ids_are_never_cut_in_tables(make_task, tmp_path, capsys, monkeypatch) -> None:
    task = make_task()
    _held_out(tmp_path)
    assert _run(capsys, "optimize", str(task), "--max-calls", "60", "--json")[0] == 0
    run_id = json.loads(_run(capsys, "runs", "show", "latest", "--json")[1])["run_id"]
    monkeypatch.setenv("COLUMNS", "60")
    code, out, _ = _run(capsys, "runs", "list")
    assert code == 0 and run_id in out


def test_reflection_model_hint(make_task, tmp_path, capsys) -> None:
    task = make_task()
    _held_out(tmp_path)
    code, _, err = _run(capsys, "optimize", str(task), "--optimizer", "reflective")
    assert code == 2 and "--reflection-model SPEC" in _fix(err)
    code, _, err = _run(capsys, "optimize", str(task), "--optimizer", "reflective",
                        "--reflection-model", "fake", "--max-calls", "60", "--json")
    assert code == 0, err


def test_qa_task_without_a_target_says_what_to_add(tmp_path, capsys) -> None:
    rows = [{"question": f"what is {i}+{i}?", "answer": str(2 * i)} for i in range(30)]
    (tmp_path / "qa.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    body = ("name: qa\nmodel: fake\ntracking: none\n"
            "prompt:\n  system: Answer.\n  user: '{question}'\n"
            "data:\n  train: qa.jsonl\n"
            "evals:\n  - type: contains\n    value: '{answer}'\n")
    task = tmp_path / "qa.yaml"
    task.write_text(body)
    code, _out, err = _run(capsys, "optimize", str(task), "--max-calls", "200", "--json")
    assert code == 0, err  # auto works without demos
    code, _, err = _run(capsys, "optimize", str(task), "--optimizer", "fewshot")
    assert code == 2
    fix = _fix(err)
    assert "target:" in fix
    task.write_text(body + "target: '{answer}'\n")
    code, _, err = _run(capsys, "optimize", str(task), "--optimizer", "fewshot",
                        "--max-calls", "200", "--json")
    assert code == 0, err
