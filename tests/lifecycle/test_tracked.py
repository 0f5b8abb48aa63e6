import json

from honed.lifecycle.promote import register_candidate
from honed.lifecycle.registry import open_registry
from honed.types import Candidate


def test_eval_loads_a_registry_prompt(cli, make_task, tmp_path) -> None:
    home = tmp_path / "home"
    registry = open_registry(home, backend="local")
    version = register_candidate(registry, "t", Candidate({"system": "", "user": "{label}"}),
                                 {"val_score": 1.0})
    registry.set_alias("t", "production", version.version)
    body = make_task().read_text().replace(
        "prompt:\n  system: Classify.\n  user: '{text}'\n",
        "prompt:\n  registry: t@production\n")
    path = make_task(body)
    # the fake model echoes its input: the registry prompt sends the label, so all pass
    data = json.loads(cli("eval", str(path), "--json").stdout)
    assert data["score"] == 1.0 and data["n"] == 10
    missing = cli("eval", str(make_task(body.replace("@production", "@nope"))))
    assert missing.returncode == 2 and "nope" in missing.stderr


def test_optimization_registers_its_best_prompt(cli, make_task, tmp_path) -> None:
    path = make_task()
    shared = make_task().read_text()
    assert "data/test.jsonl" in shared
    leak = cli("optimize", str(path), "--optimizer", "mutate")
    assert leak.returncode == 2 and "held out" in leak.stderr
    (tmp_path / "data" / "test.jsonl").write_text(
        "".join(json.dumps({"text": f"new {i}", "label": "positive"}) + "\n" for i in range(6)),
        encoding="utf-8")
    (tmp_path / "data" / "val.jsonl").write_text(
        "".join(json.dumps({"text": f"val {i}", "label": "neutral"}) + "\n" for i in range(6)),
        encoding="utf-8")
    result = cli("optimize", str(path), "--optimizer", "mutate", "--max-calls", "120", "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["registered"]["alias"] == "candidate"
    registry = open_registry(tmp_path / "home", backend="local")
    assert registry.aliases("t")["candidate"] == data["registered"]["version"]
