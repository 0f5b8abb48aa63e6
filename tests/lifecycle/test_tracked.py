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


def test_an_optimization_records_its_gates_and_a_blocked_version_needs_force(
        cli, make_task, tmp_path) -> None:
    gates = ("gates:\n"
             "  - {metric: score, min: 0.99, action: BLOCK_DEPLOY, name: ship-quality}\n"
             "  - {metric: regression, max: 0.5, action: WARN}\n")
    path = make_task(make_task().read_text() + gates)
    (tmp_path / "data" / "test.jsonl").write_text(
        "".join(json.dumps({"text": f"new {i}", "label": "positive"}) + "\n" for i in range(6)),
        encoding="utf-8")
    result = cli("optimize", str(path), "--optimizer", "mutate", "--max-calls", "60", "--json")
    assert result.returncode == 0, result.stderr
    registered = json.loads(result.stdout)["registered"]
    # the fake model echoes the text, so nothing matches a label on test: score 0 < 0.99
    assert registered["gate"] == "BLOCK_DEPLOY" and registered["blocked"] == ["ship-quality"]
    version = open_registry(tmp_path / "home", backend="local").versions("t")[-1]
    assert version.tags["honed.gate"] == "BLOCK_DEPLOY"
    assert version.tags["honed.blocked"] == "ship-quality"
    number = str(registered["version"])
    refused = cli("registry", "promote", "t", number, "--backend", "local")
    assert refused.returncode == 3 and "ship-quality" in refused.stderr
    forced = cli("registry", "promote", "t", number, "--backend", "local", "--force", "--json")
    assert forced.returncode == 0 and json.loads(forced.stdout)["forced"]
    shown = cli("optimize", str(path), "--optimizer", "mutate", "--max-calls", "60")
    assert "gates on test: BLOCK_DEPLOY; blocked from production by ship-quality" in shown.stdout


def test_a_version_that_passes_its_gates_is_tagged_so(cli, make_task, tmp_path) -> None:
    gates = "gates:\n  - {metric: error_rate, max: 0.5, action: BLOCK_DEPLOY}\n"
    path = make_task(make_task().read_text() + gates)
    (tmp_path / "data" / "test.jsonl").write_text(
        "".join(json.dumps({"text": f"new {i}", "label": "positive"}) + "\n" for i in range(6)),
        encoding="utf-8")
    result = cli("optimize", str(path), "--optimizer", "mutate", "--max-calls", "60", "--json")
    registered = json.loads(result.stdout)["registered"]
    assert registered["gate"] == "PASS" and registered["blocked"] == []
    version = open_registry(tmp_path / "home", backend="local").versions("t")[-1]
    assert version.tags["honed.gate"] == "PASS" and version.tags["honed.blocked"] == ""
    promoted = cli("registry", "promote", "t", str(registered["version"]), "--backend", "local")
    assert promoted.returncode == 0, promoted.stderr
