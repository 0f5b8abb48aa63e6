import json
from pathlib import Path


def test_dry_run_calls_nothing(cli, make_task, tmp_path) -> None:
    path = make_task()
    (tmp_path / "data" / "test.jsonl").write_text("".join(
        json.dumps({"text": f"held out {i}", "label": "neutral"}) + "\n" for i in range(10)))
    result = cli("optimize", str(path), "--dry-run", "--json", "--max-calls", "200")
    assert result.returncode == 0, result.stderr
    plan = json.loads(result.stdout)
    assert plan["splits"] == {"train": 10, "val": 10, "test": 10, "carving": ""}
    assert plan["budget"]["reserved_for_test"] == 20
    low, high = plan["estimate"]["calls"]
    assert low == 20 and high == 200
    runs = json.loads(cli("runs", "list", "--json").stdout)
    assert runs == []


def test_dry_run_fails_where_the_real_run_would(cli, make_task) -> None:
    path = make_task()  # the same rows in train, val and test: test is not held out
    for args in (["--dry-run"], []):
        result = cli("optimize", str(path), *args)
        assert result.returncode == 2 and "test example" in result.stderr, result.stderr
    dry = cli("optimize", str(path), "--optimizer", "reflective", "--dry-run")
    assert dry.returncode == 2 and "reflection" in dry.stderr


def test_unknown_optimizer_and_tiny_budget_exit_2(cli, make_task) -> None:
    path = make_task()
    result = cli("optimize", str(path), "--optimizer", "magic")
    assert result.returncode == 2 and "magic" in result.stderr
    result = cli("optimize", str(path), "--max-calls", "15")
    assert result.returncode == 2 and "--max-calls" in result.stderr
    assert "Traceback" not in result.stderr


def test_reflective_without_reflection_model_exit_2(cli, make_task) -> None:
    result = cli("optimize", str(make_task()), "--optimizer", "reflective")
    assert result.returncode == 2 and "reflection" in result.stderr


def test_resume_with_nothing_to_resume_exit_2(cli, make_task) -> None:
    result = cli("optimize", str(make_task()), "--resume")
    assert result.returncode == 2 and "resume" in result.stderr


def test_runs_show_unknown(cli) -> None:
    result = cli("runs", "show", "nope")
    assert result.returncode == 2 and "nope" in result.stderr


def _near_duplicates(tmp_path) -> None:
    """Test rows whose inputs differ from train's only by case, spaces and punctuation."""
    rows = [{"text": f"Order {i} never arrived", "label": "negative"} for i in range(12)]
    test = [{"text": f"  order {i} NEVER arrived!", "label": "negative"} for i in range(3)]
    test += [{"text": f"fresh row {i}", "label": "neutral"} for i in range(5)]
    for name, data in (("train", rows), ("val", rows[:4]), ("test", test)):
        (tmp_path / "data" / f"{name}.jsonl").write_text(
            "".join(json.dumps(r) + "\n" for r in data))


def test_leakage_by_content_is_refused_or_dropped_on_request(
        cli, make_task, tmp_path) -> None:
    path = make_task()
    _near_duplicates(tmp_path)
    refused = cli("optimize", str(path), "--max-calls", "100")
    assert refused.returncode == 2 and "--drop-leaked" in refused.stderr
    assert "3 test example(s)" in refused.stderr and "order 0 NEVER arrived" in refused.stderr
    dry = cli("optimize", str(path), "--dry-run", "--drop-leaked", "--json")
    assert dry.returncode == 0, dry.stderr
    assert json.loads(dry.stdout)["splits"]["train"] == 9  # 3 leaked rows left train
    ok = cli("optimize", str(path), "--max-calls", "100", "--drop-leaked", "--json")
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout)["splits"] == {"train": 9, "val": 1, "test": 8}


def test_resume_of_a_run_still_running_elsewhere_exit_2(cli, make_task, tmp_path) -> None:
    """Two `--resume`s of one run would both spend its budget: while a process holds the run,
    a resume is refused (exit 2, naming the run); once that process is killed, it goes on."""
    import os

    from tests.tracking.test_locks import holder

    from honed.lifecycle.optimize import OptimizeOptions
    from honed.tracking.store import RunStore

    path = make_task()
    (tmp_path / "data" / "test.jsonl").write_text("".join(
        json.dumps({"text": f"held out {i}", "label": "neutral"}) + "\n" for i in range(10)))
    home = Path(os.environ["HONED_HOME"])
    home.mkdir(parents=True)
    store = RunStore(home / "runs.sqlite")
    store.create_run("r-busy", kind="optimize", task="t", task_path=str(path),
                     optimizer="auto", config=OptimizeOptions().config())
    store.close()
    proc = holder(home, "r-busy")
    try:
        refused = cli("optimize", str(path), "--resume")
    finally:
        proc.kill()
        proc.wait()
    assert refused.returncode == 2, refused.stderr
    assert "r-busy is still running in another process" in refused.stderr
    assert "Traceback" not in refused.stderr
    resumed = cli("optimize", str(path), "--resume", "--json")
    assert resumed.returncode == 0, resumed.stderr
    assert json.loads(resumed.stdout)["run_id"] == "r-busy"
    assert not (home / "locks" / "r-busy.lock").exists()  # finished: its lock file is gone
