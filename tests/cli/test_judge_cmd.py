"""``honed judge agreement`` and ``honed judge align`` through the real entry point (in-process
through ``honed.cli.app.main``, and once in a subprocess)."""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path
from typing import Any

import pytest
from sklearn.metrics import cohen_kappa_score

from honed.cli.app import main
from honed.lifecycle.registries import open_registry
from honed.lifecycle.registry import PRODUCTION
from honed.store import open_store

CITIES = {"France": "Paris", "Japan": "Tokyo", "Italy": "Rome", "Spain": "Madrid",
          "Egypt": "Cairo", "Peru": "Lima", "Kenya": "Nairobi"}


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out = capsys.readouterr()
    return code, out.out, out.err


def write_jsonl(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


# agreement ------------------------------------------------------------------------------------
HUMAN = ["pass", "pass", "fail", "fail", "pass", "fail", "pass", "pass", "fail", "pass"]
JUDGE = ["pass", "pass", "pass", "fail", "pass", "fail", "pass", "fail", "pass", "pass"]


def test_agreement_json_matches_sklearn(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                        ) -> None:
    path = write_jsonl(tmp_path / "rated.jsonl",
                       [{"human": h, "judge": j} for h, j in zip(HUMAN, JUDGE, strict=True)])
    code, out, err = run(capsys, "judge", "agreement", str(path), "--json")
    assert code == 0, err
    data = json.loads(out)
    assert data["n"] == 10 and data["labels"] == ["fail", "pass"]
    assert data["kappa"] == pytest.approx(cohen_kappa_score(HUMAN, JUDGE))
    assert data["accuracy"] == pytest.approx(0.7)
    assert data["confusion"] == [[2, 2], [1, 5]]
    lo, hi = data["kappa_ci"]
    assert lo < data["kappa"] < hi
    assert data["kappa_linear"] is None and data["alpha"] is None  # labels, one rater


def test_agreement_on_a_numeric_csv_shows_a_table(tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    human, judge = [1, 2, 3, 4, 5, 2, 3, 4], [2, 2, 4, 5, 5, 3, 3, 5]
    path = tmp_path / "scores.csv"
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["human", "judge"])
        writer.writerows(zip(human, judge, strict=True))
    code, out, err = run(capsys, "judge", "agreement", str(path), "--json")
    data = json.loads(out)
    assert data["kappa_quadratic"] == pytest.approx(cohen_kappa_score(human, judge,
                                                                      weights="quadratic"))
    assert data["bias"] == pytest.approx(0.625) and data["scale"]["numeric"]
    code, out, err = run(capsys, "judge", "agreement", str(path))
    assert code == 0, err
    for text in ("Cohen's kappa", "weighted kappa", "Spearman's rho", "bias (judge - people)",
                 "confusion (rows: people, columns: judge)"):
        assert text in out


def test_agreement_with_several_raters(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                       ) -> None:
    rows = [{"item": f"i{i // 2}", "rater": ["ann", "bob"][i % 2], "human": h, "judge": j}
            for i, (h, j) in enumerate(zip(HUMAN, JUDGE, strict=True))]
    path = write_jsonl(tmp_path / "raters.jsonl", rows)
    data = json.loads(run(capsys, "judge", "agreement", str(path), "--json")[1])
    assert (data["items"], data["raters"]) == (5, 2)
    assert data["alpha"] is not None and data["alpha_with_judge"] is not None


def test_labels_are_printed_as_text_not_markup(tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    rows = [{"human": "[bold]ok[/bold]", "judge": "[bold]ok[/bold]"}, {"human": "no",
                                                                        "judge": "no"}]
    path = write_jsonl(tmp_path / "markup.jsonl", rows)
    code, out, _ = run(capsys, "judge", "agreement", str(path))
    assert code == 0 and "[bold]ok[/bold]" in out


@pytest.mark.parametrize(("rows", "args", "message"), [
    ([{"human": "pass"}], (), "row 1 has no judge field"),
    ([{"human": "pass", "judge": "pass", "rater": "ann"}], (), "not the item they rated"),
    ([{"human": "pass", "judge": "meh"}] * 3, ("--order", "fail,pass"), "not in --order"),
    ([{"human": None, "judge": "pass"}] * 3, (), "the label is an empty value"),
    ([{"human": "a", "judge": "b"}], (), "too few to measure agreement"),
])
def test_agreement_bad_input_is_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                       rows: list[dict[str, Any]], args: tuple[str, ...],
                                       message: str) -> None:
    path = write_jsonl(tmp_path / "bad.jsonl", rows)
    code, _, err = run(capsys, "judge", "agreement", str(path), *args)
    assert code == 2 and message in err and "Traceback" not in err


def test_the_real_entry_point(tmp_path: Path, cli: Any) -> None:
    done = cli("judge", "agreement", str(tmp_path / "missing.jsonl"))
    assert done.returncode == 2 and "file not found" in done.stderr
    assert "Traceback" not in done.stderr
    done = cli("judge", "--help")
    assert done.returncode == 0 and "agreement" in done.stdout and "align" in done.stdout


# align ----------------------------------------------------------------------------------------
def labelled_rows() -> list[dict[str, Any]]:
    rows, cities = [], list(CITIES.values())
    for i, (country, city) in enumerate(CITIES.items()):
        question = {"question": f"What is the capital of {country}?"}
        rows.append({"input": question, "output": f"It is {city}.", "label": "pass"})
        rows.append({"input": question, "output": f"It is {cities[(i + 2) % len(cities)]}.",
                     "label": "fail", "comment": "wrong city"})
    return rows


def make_task(tmp_path: Path, judge: str) -> Path:
    """A task whose llm_judge runs on ``judge`` (a fake model spec)."""
    task = {"name": "capitals", "model": "fake", "tracking": "none",
            "prompt": {"user": "{question}"},
            "data": {"train": [{"question": "q", "answer": "a"}] * 3},
            "evals": [{"type": "llm_judge", "rubric": "The answer names the right capital.",
                       "model": judge}]}
    path = tmp_path / "task.yaml"
    path.write_text(json.dumps(task), encoding="utf-8")
    return path


def accurate_judge(tmp_path: Path) -> str:
    verdicts = {f"{row['input']['question']}\n\nOUTPUT:\n{row['output']}\n":
                f"{row['label']}\nREASON: checked" for row in labelled_rows()}
    (tmp_path / "judge.json").write_text(json.dumps(verdicts), encoding="utf-8")
    return "fake:file=judge.json"


def test_align_a_judge_that_agrees_and_promote_it(tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    task = make_task(tmp_path, accurate_judge(tmp_path))
    labels = write_jsonl(tmp_path / "labels.jsonl", labelled_rows())
    code, out, err = run(capsys, "judge", "align", str(task), "--labels", str(labels),
                         "--max-calls", "150", "--promote", "--json")
    assert code == 0, err
    data = json.loads(out)
    assert data["before"]["kappa"] == 1.0 and data["after"]["kappa"] == 1.0
    assert data["registered"]["name"] == "capitals-judge" and data["promoted"]
    assert data["labels"]["n"] == 14 and data["refused"] is None
    registry = open_registry(Path(os.environ["HONED_HOME"]))
    assert registry.aliases("capitals-judge")[PRODUCTION] == data["registered"]["version"]
    code, out, err = run(capsys, "judge", "align", str(task), "--labels", str(labels),
                         "--max-calls", "150", "--name", "again")
    assert code == 0, err
    for text in ("held-out labels (test, n=", "before (rubric as written)",
                 "registered: again version 1", "prompt: again@production"):
        assert text in out


def test_align_a_lenient_judge_is_blocked(tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    task = make_task(tmp_path, "fake:answer=pass")
    labels = write_jsonl(tmp_path / "labels.jsonl", labelled_rows())
    code, out, err = run(capsys, "judge", "align", str(task), "--labels", str(labels),
                         "--max-calls", "100", "--max-usd", "1", "--promote", "--min-kappa",
                         "0.5")
    assert code == 3 and "blocked:" in err and "below --min-kappa 0.5" in err
    assert "largest disagreements left" in out and "wrong city" in out
    code, _, err = run(capsys, "registry", "promote", "capitals-judge", "1")
    assert code == 3 and "kappa>=0.5" in err


@pytest.mark.parametrize(("extra", "rows", "message"), [
    ((), labelled_rows()[:8], "8 labels are too few"),
    (("--from-log", "capitals"), labelled_rows(), "one of them"),
    ((), [{"input": "q", "output": "a"}] * 12, "row 1 has no label (or score)"),
    (("--eval", "nope"), labelled_rows(), "no llm_judge eval named 'nope'"),
    (("--order", "pass"), labelled_rows(), "two or more distinct labels"),
    (("--name", "bad name"), labelled_rows(), "invalid prompt name"),
])
def test_align_bad_input_is_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                   extra: tuple[str, ...], rows: list[dict[str, Any]],
                                   message: str) -> None:
    task = make_task(tmp_path, "fake:answer=pass")
    labels = write_jsonl(tmp_path / "labels.jsonl", rows)
    code, _, err = run(capsys, "judge", "align", str(task), "--labels", str(labels), *extra)
    assert code == 2 and message in err and "Traceback" not in err
    code, _, err = run(capsys, "judge", "align", str(task))
    assert code == 2 and "--labels FILE or --from-log PROMPT" in err


def test_align_from_the_production_log(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                       ) -> None:
    with open_store(home=os.environ["HONED_HOME"]) as store:
        for i, row in enumerate(labelled_rows()):
            store.log_request({"id": f"req-{i}", "prompt": "capitals", "version": 1,
                               "inputs": row["input"], "output": row["output"]})
            store.add_feedback(f"req-{i}", label=row["label"], comment=row.get("comment"))
    task = make_task(tmp_path, accurate_judge(tmp_path))
    code, out, err = run(capsys, "judge", "align", str(task), "--from-log", "capitals",
                         "--max-calls", "150", "--json")
    assert code == 0, err
    data = json.loads(out)
    assert data["labels"]["n"] == 14 and data["after"]["kappa"] == 1.0
