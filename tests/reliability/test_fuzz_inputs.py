"""Property-based fuzzing of everything a user can hand to honed: task YAML, datasets, CLI flags.

Every generated input runs through the real entry point, ``honed.cli.app.main``, in-process, with
``model: fake`` and ``tracking: none`` (no model, no MLflow). The property: exit 0, or exit 2 with
the culprit (file, field, line or flag) named on stderr; never a traceback, never an internal
error. Runs are deterministic (``derandomize=True``, no example database).

Set ``HONED_FUZZ_REPORT=PATH`` to have each target add its number of cases tried to the JSON
object in PATH, e.g. ``{"task_yaml": 550, "datasets": 550, "cli_args": 550}``.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import string
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from honed.cli.app import main
from honed.types import content_hash

CASES = 500  # generated cases per target (the floor asserted below)
FUZZ = settings(max_examples=CASES, derandomize=True, database=None, deadline=None,
                suppress_health_check=list(HealthCheck))
ROWS = [{"text": f"row {i}", "label": "a" if i % 2 else "b"} for i in range(8)]
TASK = ("tracking: none\nname: t\nmodel: fake\nprompt:\n  system: Classify.\n"
        "  user: '{text}'\ndata:\n  train: train.jsonl\nevals:\n  - type: exact_match\n"
        "    expected: '{label}'\n")


def run_cli(args: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(args)
    return code, out.getvalue(), err.getvalue()


def _squash(text: str) -> str:
    return re.sub(r"[\s│╭╮╰╯─]+", "", text)


def check_outcome(code: int, err: str, culprits: list[str], *, allowed: tuple[int, ...] = (0, 2),
                  ) -> None:
    """Exit 0, or 2 naming one of ``culprits``; no traceback or internal error either way."""
    assert "Traceback" not in err and "internal error" not in err, err
    assert code in allowed, f"exit {code}: {err}"
    if code == 2:
        text = _squash(err)
        named = [_squash(form) for c in culprits for form in (c, repr(c)[1:-1])]
        assert any(n in text for n in named if n), (culprits, err)


def record(target: str, cases: int) -> None:
    path = os.environ.get("HONED_FUZZ_REPORT")
    if not path:
        return
    report = Path(path)
    data = json.loads(report.read_text()) if report.exists() else {}
    data[target] = cases
    report.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")


def fuzz(target: str, strategy: st.SearchStrategy[Any], check: Callable[[Any], None]) -> None:
    """Run ``check`` on ``CASES`` generated values; record and assert the count."""
    tried = [0]

    @FUZZ
    @given(strategy)
    def one(value: Any) -> None:
        tried[0] += 1
        check(value)

    one()
    record(target, tried[0])
    assert tried[0] >= 500


# -- shared value strategies ----------------------------------------------------------------------
TEXT = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=12)
HUGE = st.builds(lambda n, c: c * n, st.integers(100_000, 200_000),
                 st.sampled_from(["a", "é", "\u2028", "{text}", "\t", "\n"]))
SCALAR = st.one_of(st.none(), st.booleans(), st.integers(-10**6, 10**6), st.floats(), TEXT)
JSONISH = st.recursive(SCALAR, lambda inner: st.one_of(
    st.lists(inner, max_size=3), st.dictionaries(TEXT, inner, max_size=3)), max_leaves=6)
LONG = st.builds(lambda n, c: c * n, st.integers(2_000, 20_000), st.sampled_from(["é", "{text}"]))
WEIRD = st.one_of(JSONISH, LONG, st.sampled_from(["{text}", "{nope}", "{", "}}", "{{text}}"]))


# -- task YAML ------------------------------------------------------------------------------------
GOOD_MODELS = ["fake", "fake:answer=a", "fake:file=answers.json", {"spec": "fake", "max_tokens": 9},
               {"spec": "fake", "temperature": 0.5, "concurrency": 2}]
BAD_MODELS = ["fake:file=nope.json", "fake:bogus", "bogus", "", "openai:", "local:missing.gguf",
              {"spec": "fake", "temperature": 3}, {"spec": "fake", "max_tokens": 0},
              {"spec": "fake", "nope": 1}, {"spec": 5}, 123, [], None]
GOOD_EVALS = [
    {"type": "exact_match", "expected": "{label}"}, {"type": "contains", "value": "{label}"},
    {"type": "not_contains", "value": ["x", "y"], "mode": "any"}, {"type": "json_valid"},
    {"type": "one_of", "values": ["a", "b"]}, {"type": "regex", "pattern": "^a"}, {"type": "f1"},
    {"type": "rouge_l", "name": "r"}, {"type": "bleu"}, {"type": "length", "max_chars": 100},
    {"type": "cost", "max_usd": 0.1}, {"type": "latency", "max_s": 5},
    {"type": "python", "function": "good.py:f"}, {"type": "exact_match", "weight": 0}]
BAD_EVALS = [
    {"type": "regex", "pattern": "("}, {"type": "one_of"}, {"type": "numeric"},
    {"type": "json_schema", "schema": {"type": "nope"}}, {"type": "json_schema", "schema": 5},
    {"type": "python", "function": "no_such_module_x:f"}, {"type": "python", "function": "nocolon"},
    {"type": "python", "function": "bad.py:f"}, {"type": "python", "function": "good.py:missing"},
    {"type": "numeric", "tolerance": -1}, {"type": "contains"}, {"type": "contains", "value": []},
    {"type": "length", "max_chars": -5}, {"type": "telepathy"}, {"type": None}, {},
    {"type": "exact_match", "expected": "{nope}"}, {"type": "exact_match", "weight": "heavy"},
    {"type": "llm_judge", "rubric": "fair?", "model": "bogus"}, "exact_match", 5]
GOOD_DATA = [{"train": "train.jsonl"}, {"train": "train.jsonl", "test": "train.csv"},
             {"train": ROWS}, {"train": "train.jsonl", "split": {"val": 0.3, "seed": 7}},
             {"train": ROWS, "id_field": "text"}, {"train": "train.json", "val": ROWS[:3]}]
BAD_DATA = [{"train": "missing.jsonl"}, {"train": "."}, {"train": "bad\x00name.jsonl"},
            {"train": "x" * 300 + ".jsonl"}, {"train": "train.txt"}, {"train": []}, {"train": [1]},
            {"train": ROWS[:1]}, {"train": ROWS[:2]}, {"train": 5}, {},
            {"train": "train.jsonl", "id_field": "nope"},
            {"train": "train.jsonl", "split": {"val": 0.9, "test": 0.9}},
            {"train": "train.jsonl", "split": {"val": -1}}, {"train": "train.jsonl", "split": 5}]
GOOD_PROMPTS = [{"system": "s", "user": "{text}"}, {"user": "Text: {text}\n{{literal}} {"},
                {"system": "{label}?", "user": "{text}", "demos": []}, {"user": "é\u2028" * 999}]
GOOD_DEMOS = [[{"text": "hi", "label": "a"}], [content_hash(ROWS[1], 12)],
              [{"text": "x", "label": "b", "extra": [1, {"k": None}]}, content_hash(ROWS[2], 12)]]
GOOD_EXTRAS = {"description": ["", "Sentiment.\n" * 50], "target": ["{label}", "A: {label}"],
               "output": [{"choices": ["a", "b"]}, {"json_schema": {}}],
               "gates": [[{"metric": "score", "min": 0}], [{"metric": "error_rate", "max": 1}]],
               "pricing": [{"fake": {"input_per_mtok": 1, "output_per_mtok": 2}}]}
BAD_EXTRAS = {"target": ["{nope}", "", 5], "output": [{"choices": []}, {"choices": ["a"],
                                                                        "json_schema": {}}],
              "gates": [[{"metric": "score"}], [{"metric": "eval", "min": 1}], ["score"],
                        [{"metric": "nope", "min": 1}], [{"metric": "score", "min": "x"}]],
              "pricing": [{"fake": {"input_per_mtok": -1, "output_per_mtok": 2}}, [1]],
              "demos": [[{"text": "x"}], ["nope"], [5], [{}], {"text": "x"}, [[1]]],
              "rows": [[{"text": "x"}] * 5, [{"text": 1, "label": None}] * 5, [{}] * 5]}
TOP_KEYS = ["name", "description", "model", "judge_model", "reflection_model", "prompt", "data",
            "evals", "output", "target", "pricing", "gates", "tracking"]


def base_doc() -> dict[str, Any]:
    return {"tracking": "none", "name": "t", "model": "fake",
            "prompt": {"system": "Classify.", "user": "{text}"}, "data": {"train": "train.jsonl"},
            "evals": [{"type": "exact_match", "expected": "{label}"}]}


@st.composite
def typo(draw: st.DrawFn, words: list[str]) -> str:
    word = draw(st.sampled_from(words))
    i = draw(st.integers(0, len(word) - 1))
    op = draw(st.sampled_from(["drop", "swap", "add"]))
    if op == "drop":
        return word[:i] + word[i + 1:]
    if op == "swap" and i + 1 < len(word):
        return word[:i] + word[i + 1] + word[i] + word[i + 2:]
    return word[:i] + draw(st.sampled_from(string.ascii_lowercase)) + word[i:]


@st.composite
def good_doc(draw: st.DrawFn) -> dict[str, Any]:
    doc = base_doc()
    doc["model"] = draw(st.sampled_from(GOOD_MODELS))
    doc["evals"] = draw(st.lists(st.sampled_from(GOOD_EVALS), min_size=1, max_size=3,
                                 unique_by=lambda e: e.get("name") or e["type"]))
    doc["data"] = draw(st.sampled_from(GOOD_DATA))
    doc["prompt"] = dict(draw(st.sampled_from(GOOD_PROMPTS)))
    for key in draw(st.lists(st.sampled_from(sorted(GOOD_EXTRAS)), max_size=2, unique=True)):
        doc[key] = draw(st.sampled_from(GOOD_EXTRAS[key]))
    if draw(st.integers(0, 4)) == 0:
        doc["prompt"]["demos"] = draw(st.sampled_from(GOOD_DEMOS))
    return doc


def corrupt(draw: st.DrawFn, doc: dict[str, Any]) -> None:
    """One structural fault: a bad model/eval/data/prompt, a wrong type, a missing or unknown
    key (never ``tracking``: the fuzz must not reach MLflow)."""
    kind = draw(st.sampled_from(["model", "eval", "data", "prompt", "type", "missing", "typo",
                                 "extra", "extra"]))
    if kind == "extra":
        key = draw(st.sampled_from(sorted(BAD_EXTRAS)))
        value = draw(st.sampled_from(BAD_EXTRAS[key]))
        if key == "demos":
            doc["prompt"] = {**doc["prompt"], "demos": value}
        elif key == "rows":
            doc["data"] = {"train": value}
        else:
            doc[key] = value
    elif kind == "model":
        doc[draw(st.sampled_from(["model", "judge_model"]))] = draw(st.sampled_from(BAD_MODELS))
    elif kind == "eval":
        doc["evals"] = [*doc["evals"], draw(st.sampled_from(BAD_EVALS))]
    elif kind == "data":
        doc["data"] = draw(st.sampled_from(BAD_DATA))
    elif kind == "prompt":
        doc["prompt"] = {**doc["prompt"], draw(st.sampled_from(
            ["system", "user", "demos", "registry", "x"])): draw(WEIRD)}
    elif kind == "type":
        doc[draw(st.sampled_from(TOP_KEYS[:-1]))] = draw(WEIRD)
    elif kind == "missing":
        doc.pop(draw(st.sampled_from(["name", "prompt", "data", "evals"])), None)
    else:
        doc[draw(typo(TOP_KEYS[:-1]))] = 1


@st.composite
def task_docs(draw: st.DrawFn) -> dict[str, Any]:
    doc = draw(good_doc())
    for _ in range(draw(st.sampled_from([0, 0, 0, 1, 1, 1, 2, 3]))):
        corrupt(draw, doc)
    return doc


def to_yaml(doc: Any, style: str) -> str:
    from ruamel.yaml import YAML

    if style == "json":
        return json.dumps(doc)
    yaml, buffer = YAML(typ="safe", pure=True), io.StringIO()
    yaml.default_flow_style = False
    yaml.dump(doc, buffer)
    return buffer.getvalue()


def edit_text(draw: st.DrawFn, text: str) -> str:
    at = draw(st.integers(0, len(text)))
    edit = draw(st.sampled_from(["tab", "insert", "truncate", "dup", "crlf"]))
    if edit == "tab":
        lines = text.splitlines(keepends=True)
        k = at % max(1, len(lines))
        return "".join(lines[:k]) + "\t" + "".join(lines[k:])
    if edit == "insert":
        return text[:at] + draw(st.sampled_from([":", "- ", "{", "[", "'", "&a", "*b", "!!x ",
                                                  "%", "\x00", "\ufeff", "\n  "])) + text[at:]
    if edit == "truncate":
        return text[:at]
    return text + "name: again\n" if edit == "dup" else text.replace("\n", "\r\n")


@st.composite
def task_bytes(draw: st.DrawFn) -> bytes:
    text = to_yaml(draw(task_docs()), draw(st.sampled_from(["yaml", "yaml", "json"])))
    if draw(st.integers(0, 3)) == 0:
        text = edit_text(draw, text)
    encoding = draw(st.sampled_from(["utf-8"] * 6 + ["utf-8-sig", "utf-16", "latin-1"]))
    raw = text.encode(encoding, errors="replace")
    if draw(st.integers(0, 15)) == 0:
        at = draw(st.integers(0, len(raw)))
        raw = raw[:at] + b"\xff\xfe\xc3(" + raw[at:]
    return raw


def _task_folder(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "train.jsonl").write_text("".join(json.dumps(r) + "\n" for r in ROWS))
    (folder / "train.txt").write_text("text\n")
    (folder / "train.json").write_text(json.dumps([{**r, "text": f"json {r['text']}"}
                                                   for r in ROWS]))
    (folder / "train.csv").write_text("text,label\n" + "".join(
        f"csv {r['text']},{r['label']}\n" for r in ROWS))
    (folder / "answers.json").write_text('{"row 1": "a"}')
    (folder / "bad.py").write_text("def f(:\n")
    (folder / "good.py").write_text("def f(output, example):\n    return True\n")


def test_fuzz_task_yaml(tmp_path: Path) -> None:
    _task_folder(tmp_path)
    path = tmp_path / "task.yaml"
    commands = st.sampled_from([["eval", "--no-cache", "--json", "--split", "all"],
                                ["optimize", "--dry-run", "--json"], ["gate", "--no-cache"]])

    def check(case: tuple[bytes, list[str]]) -> None:
        raw, command = case
        path.write_bytes(raw)
        code, out, err = run_cli([command[0], str(path), *command[1:]])
        gated = command[0] == "gate" and ("FAIL" in out or "BLOCK_DEPLOY" in out)
        check_outcome(code, err, ["task.yaml", "nope.json", "missing.gguf", ".jsonl"],
                      allowed=(0, 1, 2, 3) if gated else (0, 2))

    fuzz("task_yaml", st.tuples(task_bytes(), commands), check)


# -- datasets -------------------------------------------------------------------------------------
VALUE = st.one_of(TEXT, TEXT, JSONISH, st.sampled_from([float("nan"), float("inf"), 10**30, "é"]))
EXTRA_KEYS = st.sampled_from(["id", "extra", "Text", "", "a b", "label "])


@st.composite
def dataset_rows(draw: st.DrawFn) -> list[dict[str, Any]]:
    rows = [{"text": draw(VALUE), "label": draw(VALUE)} for _ in range(draw(st.integers(0, 9)))]
    for row in rows:
        for key in draw(st.lists(EXTRA_KEYS, max_size=1)):
            row[key] = draw(VALUE)
    if rows and draw(st.integers(0, 4)) == 0:  # a row without a field the templates use
        draw(st.sampled_from(rows)).pop(draw(st.sampled_from(["text", "label"])))
    if rows and draw(st.integers(0, 9)) == 0:
        rows[0]["text"] = draw(HUGE)
    return rows


def _cell(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


JSONL_JUNK = ["", "   ", "\r", "[1, 2]", "null", "42", '"text"', "{oops", "[" * 5000,
              '{"text": "a", "text": "b", "label": "c"}', '{"text": 1' + "0" * 5000 + "}"]


def jsonl_text(draw: st.DrawFn, rows: list[dict[str, Any]]) -> str:
    ascii_only = draw(st.booleans())
    lines = [json.dumps(r, ensure_ascii=ascii_only) for r in rows]
    for _ in range(draw(st.sampled_from([0, 0, 1, 2]))):
        lines.insert(draw(st.integers(0, len(lines))), draw(st.sampled_from(JSONL_JUNK)))
    return draw(st.sampled_from(["\n", "\r\n"])).join(lines) + draw(st.sampled_from(["", "\n"]))


def csv_text(draw: st.DrawFn, rows: list[dict[str, Any]]) -> str:
    import csv

    header = list(dict.fromkeys(k for r in rows for k in r)) or ["text", "label"]
    if draw(st.integers(0, 5)) == 0:
        header.append(header[0])  # a duplicate column
    out = io.StringIO()
    writer = csv.writer(out, lineterminator=draw(st.sampled_from(["\n", "\r\n"])))
    writer.writerow(header)
    for row in rows:
        cells = [_cell(row.get(k, "")) for k in header]
        cut = draw(st.sampled_from([0] * 8 + [-1, 1]))  # a short or a long row now and then
        writer.writerow(cells[:cut] if cut < 0 else cells + ["x"] * cut)
    return out.getvalue()


def json_text(draw: st.DrawFn, rows: list[dict[str, Any]]) -> str:
    shape = draw(st.sampled_from(["list"] * 5 + ["object", "scalar", "mixed", "broken"]))
    data: Any = {"list": rows, "object": {"rows": rows}, "scalar": 5,
                 "mixed": [*rows, [1, 2]]}.get(shape, rows)
    text = json.dumps(data, indent=draw(st.sampled_from([None, 2])))
    return text[: len(text) // 2] if shape == "broken" else text


@st.composite
def dataset_files(draw: st.DrawFn) -> tuple[str, bytes, bool]:
    """(format, file content, whether the task names ``id`` as the id field)."""
    rows, with_ids = draw(dataset_rows()), draw(st.integers(0, 3)) == 0
    for number, row in enumerate(rows if with_ids else []):
        row["id"] = draw(st.sampled_from([number, number, f"r{number}", None, [number]]))
    ext = draw(st.sampled_from(["jsonl", "jsonl", "csv", "json"]))
    writer = {"jsonl": jsonl_text, "csv": csv_text, "json": json_text}[ext]
    text = writer(draw, rows) if draw(st.integers(0, 19)) else ""
    encoding = draw(st.sampled_from(["utf-8"] * 8 + ["utf-8-sig", "utf-16", "utf-32", "utf-16-le",
                                                       "latin-1", "cp1252"]))
    raw = text.encode(encoding, errors="replace")
    if draw(st.integers(0, 19)) == 0:
        at = draw(st.integers(0, len(raw)))
        junk = draw(st.sampled_from([b"\xff", b"\xc3(", b"\x00", b"\xe9t\xe9"]))
        raw = raw[:at] + junk + raw[at:]
    return ext, raw, with_ids


def test_fuzz_datasets(tmp_path: Path) -> None:
    commands = st.sampled_from([["eval", "--no-cache", "--json", "--split", "all"],
                                ["optimize", "--dry-run", "--json"]])

    def check(case: tuple[tuple[str, bytes, bool], list[str]]) -> None:
        (ext, raw, with_ids), command = case
        for old in tmp_path.glob("train.*"):
            old.unlink()
        (tmp_path / f"train.{ext}").write_bytes(raw)
        ids = "\n  id_field: id" if with_ids else ""
        (tmp_path / "task.yaml").write_text(TASK.replace("train.jsonl", f"train.{ext}{ids}"))
        code, _, err = run_cli([command[0], str(tmp_path / "task.yaml"), *command[1:]])
        check_outcome(code, err, [f"train.{ext}", "task.yaml"])

    fuzz("datasets", st.tuples(dataset_files(), commands), check)


# -- command-line arguments -----------------------------------------------------------------------
FLAGS = {
    "eval": ["--split", "--model", "-m", "--concurrency", "--limit", "--max-calls", "--max-cost",
             "--max-minutes"],
    "optimize": ["--optimizer", "-o", "--reflection-model", "--model", "--max-calls", "--seed",
                 "--max-cost", "--max-minutes", "--minibatch", "--length-penalty",
                 "--max-prompt-tokens", "--concurrency"],
    "gate": ["--prompt", "--against", "--split", "--model", "--limit", "--min-score",
             "--max-regression", "--max-cost-per-example", "--max-p95-latency",
             "--max-error-rate", "--action"],
    "schema": [],
}
SWITCHES = ["--no-cache", "--json", "--json", "--resume", "--bogus", "-h", "extra"]
COUNTS, SCORES = ["1", "2", "5", "40", "1000"], ["0", "0.5", "1", "0.01"]
GOOD_VALUES = {"--split": ["test", "val", "train", "all"], "--model": ["fake", "fake:answer=a"],
               "-m": ["fake"], "--optimizer": ["mutate", "fewshot", "bayes", "auto"],
               "-o": ["fewshot"], "--reflection-model": ["fake"], "--seed": ["0", "7", "-1"],
               "--max-cost": SCORES, "--max-minutes": SCORES, "--length-penalty": SCORES,
               "--prompt": ["task.yaml"], "--against": ["task.yaml"], "--min-score": SCORES,
               "--max-regression": SCORES, "--max-cost-per-example": SCORES,
               "--max-p95-latency": SCORES, "--max-error-rate": SCORES,
               "--action": ["WARN", "FAIL", "BLOCK_DEPLOY"]}
ODD_VALUES = st.one_of(
    st.integers(-3, 40).map(str),
    st.sampled_from(["0", "-1", "1e309", "nan", "inf", "-inf", "", "abc", "1.5", "0x10", " 3",
                     "99999999999999999999999", "bogus", "bogus:x", "openai:", "openai:x",
                     "reflective", "missing.yaml", ".", "t@production", "t/1", "--json", "-"]),
    TEXT.filter(lambda t: not t.strip().lower().startswith(("local", "anthropic", "dspy"))))


@st.composite
def argv(draw: st.DrawFn) -> list[str]:
    command = draw(st.sampled_from(sorted(FLAGS)))
    args = [command, "--dry-run"] if command == "optimize" else [command]
    if command != "schema" or draw(st.integers(0, 4)) == 0:
        args.append(draw(st.sampled_from(["task.yaml"] * 8 + ["missing.yaml", ".", "train.jsonl",
                                                               "--json"])))
    for _ in range(draw(st.integers(0, 4))):
        if not FLAGS[command] or draw(st.integers(0, 5)) == 0:
            args.append(draw(st.sampled_from(SWITCHES)))
            continue
        flag = draw(st.sampled_from(FLAGS[command]))
        good = st.sampled_from(GOOD_VALUES.get(flag, COUNTS))
        args += [flag, draw(good if draw(st.integers(0, 2)) else ODD_VALUES)]
    return args


def test_fuzz_cli_args(tmp_path: Path, monkeypatch: Any) -> None:
    _task_folder(tmp_path)
    (tmp_path / "task.yaml").write_text(TASK)
    monkeypatch.chdir(tmp_path)

    def check(args: list[str]) -> None:
        code, out, err = run_cli(args)
        gated = args[0] == "gate" and ("FAIL" in out or "BLOCK_DEPLOY" in out)
        check_outcome(code, err, [*args, "TASK"], allowed=(0, 1, 2, 3) if gated else (0, 2))

    fuzz("cli_args", argv(), check)


def test_state_folder_that_is_a_file(tmp_path: Path, monkeypatch: Any) -> None:
    _task_folder(tmp_path)
    (tmp_path / "task.yaml").write_text(TASK)
    (tmp_path / "home").write_text("not a folder")
    monkeypatch.setenv("HONED_HOME", str(tmp_path / "home"))
    code, _, err = run_cli(["eval", str(tmp_path / "task.yaml"), "--json"])
    assert code == 2 and str(tmp_path / "home") in err and "HONED_HOME" in err, err
