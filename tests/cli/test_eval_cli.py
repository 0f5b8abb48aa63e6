import json
import time
from pathlib import Path

import pytest


def test_help_is_fast_and_bare_command_prints_help(cli) -> None:
    started = time.perf_counter()
    result = cli("--help")
    elapsed = time.perf_counter() - started
    assert result.returncode == 0 and "eval" in result.stdout
    assert elapsed < 2.0  # generous for CI noise; benchmarks/startup measures the real figure
    bare = cli()
    assert bare.returncode == 0 and "Usage" in bare.stdout


def test_eval_json_has_the_contract_fields(cli, make_task) -> None:
    path = make_task()
    result = cli("eval", str(path), "--json", "--model", "fake:answer=positive")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    for key in ("score", "n", "ci95", "errors", "calls", "cache_hits", "input_tokens",
                "output_tokens", "cost_usd", "wall_s", "latency_p50_s", "latency_p95_s"):
        assert key in data
    assert data["score"] == 0.4 and data["n"] == 10 and data["calls"] == 10
    again = json.loads(cli("eval", str(path), "--json", "--model",
                           "fake:answer=positive").stdout)
    assert again["calls"] == 0 and again["cache_hits"] == 10


def test_eval_table_output(cli, make_task) -> None:
    result = cli("eval", str(make_task()), "--split", "all", "--limit", "4")
    assert result.returncode == 0, result.stderr
    assert "score" in result.stdout and "n=4" in result.stdout


def test_eval_writes_every_example_to_the_output_file(cli, make_task, tmp_path) -> None:
    import csv

    path = make_task()
    lines = tmp_path / "results.jsonl"
    result = cli("eval", str(path), "--model", "fake:answer=positive", "--output", str(lines))
    assert result.returncode == 0, result.stderr
    assert f"results of every example: {lines}" in result.stdout
    rows = [json.loads(line) for line in lines.read_text().splitlines()]
    assert len(rows) == 10 and {r["split"] for r in rows} == {"test"}
    assert {r["output"] for r in rows} == {"positive"}
    assert sum(r["passed"] for r in rows) == 4  # as the summary's 0.4 says
    first = rows[0]
    assert set(first["inputs"]) == {"text", "label"} and first["evals"]["exact_match"][
        "score"] in (0.0, 1.0)
    table = tmp_path / "results.csv"
    result = cli("eval", str(path), "--model", "fake:answer=positive", "--split", "all",
                 "--limit", "5", "--output", str(table), "--json")
    assert result.returncode == 0 and json.loads(result.stdout)["output_file"] == str(table)
    with table.open(newline="", encoding="utf-8") as handle:
        read = list(csv.DictReader(handle))
    assert len(read) == 5 and read[0]["output"] == "positive"
    assert {"input.text", "eval.exact_match.score", "eval.exact_match.feedback"} <= set(read[0])
    assert {r["passed"] for r in read} <= {"true", "false"}


@pytest.mark.parametrize(("name", "says"), [
    ("results.txt", "end the file name with .jsonl, .json or .csv"),
    ("missing/results.csv", "does not exist"),
])
def test_a_bad_output_path_exits_2_before_any_call(cli, make_task, tmp_path, name,
                                                   says) -> None:
    result = cli("eval", str(make_task()), "--model", "fake:answer=positive", "--json",
                 "--output", str(tmp_path / name))
    assert result.returncode == 2 and says in result.stderr and "--output" in result.stderr
    assert "Traceback" not in result.stderr
    again = json.loads(cli("eval", str(make_task()), "--model", "fake:answer=positive",
                           "--json").stdout)
    assert again["calls"] == 10  # the refused run called nothing (nothing was cached)


BAD_INPUTS = [
    ("bad yaml", lambda s: s + "evals: [\n", "invalid YAML"),
    ("unknown field", lambda s: s.replace("name: t", "name: t\ncolour: red"), "unknown field"),
    ("unknown eval", lambda s: s.replace("exact_match", "vibes"), "unknown eval type"),
    ("unknown provider", lambda s: s.replace("model: fake", "model: acme:x"), "acme"),
    ("missing dataset", lambda s: s.replace("data/test.jsonl", "data/gone.jsonl"), "gone.jsonl"),
    ("unknown variable", lambda s: s.replace("'{text}'", "'{body}'"), "{body}"),
]


@pytest.mark.parametrize(("case", "edit", "message"), BAD_INPUTS, ids=[b[0] for b in BAD_INPUTS])
def test_bad_input_exits_2_without_traceback(cli, make_task, case, edit, message) -> None:
    path = make_task(edit(make_task().read_text()))
    result = cli("eval", str(path), "--json")
    assert result.returncode == 2, (case, result.stdout, result.stderr)
    assert message in result.stderr and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) <= 3


def test_bad_data_files_exit_2(cli, make_task, tmp_path: Path) -> None:
    path = make_task()
    (tmp_path / "data" / "test.jsonl").write_bytes(b'{"text": "caf\xe9"}\n')
    result = cli("eval", str(path))
    assert result.returncode == 2 and "not UTF-8" in result.stderr
    (tmp_path / "data" / "test.jsonl").write_text("", encoding="utf-8")
    result = cli("eval", str(path))
    assert result.returncode == 2 and "empty" in result.stderr
    (tmp_path / "data" / "test.jsonl").write_text('{"text": 1}\n{bad\n', encoding="utf-8")
    result = cli("eval", str(path))
    assert result.returncode == 2 and "test.jsonl:2" in result.stderr


def test_missing_task_file_and_bad_split(cli, tmp_path: Path, make_task) -> None:
    result = cli("eval", str(tmp_path / "none.yaml"))
    assert result.returncode == 2 and "none.yaml" in result.stderr
    result = cli("eval", str(make_task()), "--split", "dev")
    assert result.returncode == 2 and "dev" in result.stderr


def test_missing_api_key_names_the_variable(cli, make_task) -> None:
    result = cli("eval", str(make_task()), "--model", "openai:gpt-4o-mini")
    assert result.returncode == 2 and "OPENAI_API_KEY" in result.stderr


def test_schema_command(cli) -> None:
    result = cli("schema")
    assert result.returncode == 0 and "evals" in json.loads(result.stdout)["properties"]
