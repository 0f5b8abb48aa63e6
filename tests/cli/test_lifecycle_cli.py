"""``honed apply``, ``honed gate`` and ``honed abtest`` through the real entry point."""

import asyncio
import json
import os
from dataclasses import dataclass
from pathlib import Path

import honed.lifecycle.optimize as run_module
from honed.lifecycle.optimize import OptimizeOptions, optimize
from honed.optimizers.base import SearchContext
from honed.task.config import load_task
from honed.types import Candidate

GATES = ("gates:\n  - metric: score\n    min: 0.3\n"
         "  - metric: error_rate\n    max: 0.0\n    action: BLOCK_DEPLOY\n")


def task_text(model: str = "fake:answer=positive", user: str = "'{text}'",
              extra: str = "") -> str:
    return ("# keep me\nname: t\n"
            f"model: {model}\n"
            f"prompt:\n  system: Classify.   # inline\n  user: {user}\n"
            "data:\n  train: data/train.jsonl\n  val: data/val.jsonl\n  test: data/test.jsonl\n"
            "evals:\n  - type: exact_match\n    expected: '{label}'\n" + extra)


def run_json(cli, *args: str, code: int = 0) -> dict:
    result = cli(*args, "--json")
    assert result.returncode == code, (result.stdout, result.stderr)
    return json.loads(result.stdout)


# apply -----------------------------------------------------------------------------------------
@dataclass
class Toy:
    name: str = "toy"

    async def search(self, ctx: SearchContext, seed: Candidate) -> None:
        ctx.iteration = 1
        better = seed.with_components(system="Answer with the label.", user="{label}")
        ctx.record(await ctx.evaluate(better, "val"), accepted=True, phase="toy")


def distinct_splits(folder: Path) -> None:
    """An optimization needs train, val and test apart."""
    for split, n in (("train", 4), ("val", 6), ("test", 8)):
        rows = [{"text": f"{split} {i}", "label": "positive" if i % 2 else "negative"}
                for i in range(n)]
        (folder / "data" / f"{split}.jsonl").write_text(
            "".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")


def test_apply_a_run_then_eval_reproduces_its_test_score(cli, make_task, monkeypatch) -> None:
    path = make_task(task_text(model="fake"))  # the echo model: user '{label}' is right
    distinct_splits(path.parent)
    monkeypatch.setattr(run_module, "build_optimizer", lambda name: Toy())
    options = OptimizeOptions(optimizer="toy", write_output=False)
    result = asyncio.run(optimize(load_task(path), options))
    run = result.to_dict()
    assert run["best"]["test"]["score"] == 1.0 and run["seed"]["test"]["score"] == 0.0
    dry = run_json(cli, "apply", run["run_id"], str(path), "--dry-run")
    assert dry["changed"] and not dry["written"] and "+  user: '{label}'" in dry["diff"]
    assert "user: '{text}'" in path.read_text(encoding="utf-8")
    applied = run_json(cli, "apply", run["run_id"])  # the run's own task file
    assert applied["written"] and Path(applied["backup"]).exists()
    assert applied["source"]["run_test_score"] == 1.0
    text = path.read_text(encoding="utf-8")
    assert "# keep me" in text and "# inline" in text
    evaluated = run_json(cli, "eval", str(path), "--no-cache")
    assert evaluated["score"] == run["best"]["test"]["score"]
    again = run_json(cli, "apply", run["run_id"], str(path))
    assert not again["changed"] and again["backup"] is None


def test_apply_table_output_and_errors(cli, make_task, tmp_path: Path) -> None:
    path = make_task(task_text())
    other = tmp_path / "other.yaml"
    other.write_text(task_text().replace("Classify.", "Be brief."), encoding="utf-8")
    shown = cli("apply", str(other), str(path), "--dry-run")
    assert shown.returncode == 0, shown.stderr
    assert "Be brief." in shown.stdout and "dry run" in shown.stdout
    for args, message in [(("nope-run-id", str(path)), "nope-run-id"),
                          (("t@production",), "--task"),
                          (("missing.yaml", str(path)), "not found"),
                          ((str(other),), "which task file")]:
        bad = cli("apply", *args)
        assert bad.returncode == 2, (args, bad.stderr)
        assert message in bad.stderr and "Traceback" not in bad.stderr


# gate ------------------------------------------------------------------------------------------
def test_gate_exit_codes_follow_the_worst_failing_action(cli, make_task) -> None:
    path = make_task(task_text(extra=GATES))  # answer=positive scores 0.4
    ok = run_json(cli, "gate", str(path))
    assert ok["outcome"] == "PASS" and ok["score"] == 0.4
    assert [g["status"] for g in ok["gates"]] == ["pass", "pass"]
    fail = run_json(cli, "gate", str(path), "--min-score", "0.5", code=1)
    assert fail["outcome"] == "FAIL" and fail["gates"][-1]["status"] == "fail"
    warn = run_json(cli, "gate", str(path), "--min-score", "0.5", "--action", "WARN")
    assert warn["outcome"] == "WARN" and warn["exit_code"] == 0
    block = run_json(cli, "gate", str(path), "--min-score", "0.5", "--action", "BLOCK_DEPLOY",
                     code=3)
    assert block["outcome"] == "BLOCK_DEPLOY"


def test_gate_table_and_regression_against_production(cli, make_task, tmp_path: Path) -> None:
    path = make_task(task_text(model="fake", user="'{label}'", extra=GATES))
    production = tmp_path / "production.yaml"
    production.write_text(task_text(model="fake"), encoding="utf-8")
    table = cli("gate", str(path), "--against", str(production), "--max-regression", "0")
    assert table.returncode == 0, table.stderr
    assert "PASS" in table.stdout and "regression" in table.stdout
    worse = run_json(cli, "gate", str(production), "--against", str(path),
                     "--max-regression", "0.05", "--limit", "5", code=1)
    regression = worse["gates"][-1]
    assert regression["metric"] == "regression" and regression["value"] == 1.0
    assert worse["n"] == 5 and worse["production"]["n"] == 5
    prompt = run_json(cli, "gate", str(production), "--prompt", str(path), "--min-score", "1")
    assert prompt["outcome"] == "PASS" and prompt["score"] == 1.0


def test_gate_input_errors_exit_2(cli, make_task) -> None:
    path = make_task(task_text())
    for args, message in [((), "no quality gates"),
                          (("--max-regression", "0"), "--against"),
                          (("--min-score", "1", "--action", "PANIC"), "PANIC"),
                          (("--min-score", "1", "--split", "dev"), "dev")]:
        bad = cli("gate", str(path), *args)
        assert bad.returncode == 2, (args, bad.stderr)
        assert message in bad.stderr and "Traceback" not in bad.stderr


# abtest ----------------------------------------------------------------------------------------
def test_abtest_names_a_winner_only_when_significant(cli, make_task, tmp_path: Path) -> None:
    a = make_task(task_text(model="fake"))
    b = tmp_path / "b.yaml"
    b.write_text(task_text(model="fake", user="'{label}'"), encoding="utf-8")
    data = run_json(cli, "abtest", str(a), str(b))
    assert data["winner"] == "B" and data["test"] == "mcnemar" and data["n_paired"] == 10
    assert data["a"]["score"] == 0.0 and data["b"]["score"] == 1.0
    assert data["p_value"] < 0.05 and data["sources"]["B"]["kind"] == "file"
    few = run_json(cli, "abtest", str(a), str(b), "--limit", "4")
    assert few["winner"] is None and few["verdict"].startswith("no significant difference")
    same = run_json(cli, "abtest", str(a), str(a), "--task", str(b))
    assert same["p_value"] == 1.0 and same["winner"] is None
    shown = cli("abtest", str(a), str(b), "--alpha", "0.01")
    assert shown.returncode == 0, shown.stderr
    assert "B wins" in shown.stdout and "McNemar" in shown.stdout


def test_abtest_compares_two_models_on_one_prompt(cli, make_task) -> None:
    path = make_task(task_text(model="fake"))  # the fake model echoes: never the label
    data = run_json(cli, "abtest", str(path), str(path), "--model-b", "fake:answer=positive")
    assert (data["model"], data["model_b"]) == ("fake", "fake:answer=positive")
    assert data["a"]["score"] == 0.0 and data["b"]["score"] == 0.4 and data["n_paired"] == 10
    assert data["diff"] == 0.4 and not data["notes"]  # same prompt, other model: no note
    same = run_json(cli, "abtest", str(path), str(path))
    assert same["model_b"] == "fake" and "the same prompt on the same model" in same["notes"][0]
    shown = cli("abtest", str(path), str(path), "--model-b", "fake:answer=positive")
    assert shown.returncode == 0 and "fake:answer=positive" in shown.stdout
    bad = cli("abtest", str(path), str(path), "--model-b", "acme:x")
    assert bad.returncode == 2 and "acme" in bad.stderr and "Traceback" not in bad.stderr


def test_abtest_input_errors_exit_2(cli, make_task) -> None:
    path = make_task(task_text())
    for args, message in [(("x@production", "x/2"), "--task"),
                          ((str(path), str(path), "--alpha", "2"), "--alpha"),
                          ((str(path), str(path), "--test", "chi2"), "chi2"),
                          ((str(path), "no-such-run"), "no-such-run")]:
        bad = cli("abtest", *args)
        assert bad.returncode == 2, (args, bad.stderr)
        assert message in bad.stderr and "Traceback" not in bad.stderr


def test_registry_references_through_the_cli(cli, make_task) -> None:
    from honed.lifecycle.registries import open_registry

    path = make_task(task_text(model="fake"))
    registry = open_registry(Path(os.environ["HONED_HOME"]))
    registry.register("t", Candidate({"system": "", "user": "{text}"}))
    registry.register("t", Candidate({"system": "", "user": "{label}"}))
    registry.set_alias("t", "production", 1)
    data = run_json(cli, "abtest", "t@production", "t/2", "--task", str(path))
    assert data["winner"] == "B" and data["sources"]["A"]["version"] == 1
    gate = run_json(cli, "gate", str(path), "--prompt", "t/2", "--against", "t@production",
                    "--max-regression", "0")
    assert gate["outcome"] == "PASS" and gate["score"] == 1.0
    applied = run_json(cli, "apply", "t/2", str(path))
    assert applied["written"] and load_task(path).prompt.user == "{label}"


def test_a_gate_on_a_registry_version_is_recorded_and_promote_honours_it(cli, make_task) -> None:
    from honed.lifecycle.registries import open_registry
    from honed.lifecycle.registry import PromptRef

    path = make_task(task_text(model="fake"))
    registry = open_registry(Path(os.environ["HONED_HOME"]))
    registry.register("t", Candidate({"system": "", "user": "{text}"}))  # echo: scores 0
    block = ("--min-score", "0.5", "--action", "BLOCK_DEPLOY")
    partial = run_json(cli, "gate", str(path), "--prompt", "t/1", *block, "--limit", "3",
                       code=3)
    assert partial["recorded"] is None  # a partial check is not evidence enough to record
    blocked = cli("gate", str(path), "--prompt", "t/1", *block)
    assert blocked.returncode == 3 and "recorded on t/1" in blocked.stdout
    tags = open_registry(Path(os.environ["HONED_HOME"])).get(PromptRef("t", version=1)).tags
    assert tags["honed.gate"] == "BLOCK_DEPLOY" and tags["honed.blocked"] == "score >= 0.5"
    refused = cli("registry", "promote", "t", "1")
    assert refused.returncode == 3 and "score >= 0.5" in refused.stderr
    cleared = run_json(cli, "gate", str(path), "--prompt", "t/1", "--max-error-rate", "0",
                       "--action", "BLOCK_DEPLOY")
    assert cleared["outcome"] == "PASS" and cleared["recorded"] == "t/1"
    promoted = run_json(cli, "registry", "promote", "t", "1")
    assert promoted["changed"] and promoted["blocked"] == []
