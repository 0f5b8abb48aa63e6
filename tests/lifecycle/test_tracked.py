import asyncio
import json
from dataclasses import dataclass
from pathlib import Path

import honed.lifecycle.optimize as run_module
from honed.cli.app import main
from honed.lifecycle import tracked
from honed.lifecycle.optimize import OptimizeOptions, optimize
from honed.lifecycle.promote import register_candidate
from honed.lifecycle.registries import open_registry
from honed.lifecycle.registry import parse_ref
from honed.optimizers.base import SearchContext
from honed.optimizers.session import SearchOptions
from honed.providers.fake import FakeModel, last_user
from honed.task.config import load_splits, load_task
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


# demos travel with the registered version -------------------------------------------------------
@dataclass
class DemoToy:
    """One proposal: the seed with the first two train examples as few-shot demos."""

    name: str = "demo-toy"

    async def search(self, ctx: SearchContext, seed: Candidate) -> None:
        ctx.iteration = 1
        demos = tuple(ex.id for ex in ctx.splits.train[:2])
        ctx.record(await ctx.evaluate(seed.with_demos(demos), "val"), accepted=True,
                   phase="toy")


def knows_demos(request) -> str:
    """Right only when the prompt carries demos (assistant turns)."""
    if any(m.role == "assistant" for m in request.messages):
        return "positive" if "good" in last_user(request) else "negative"
    return "neutral"


def demo_task(make_task, tmp_path: Path) -> Path:
    path = make_task()
    for split, n in (("train", 4), ("val", 6), ("test", 6)):
        rows = [{"text": f"{split} {i} {'good' if i % 2 else 'bad'}",
                 "label": "positive" if i % 2 else "negative"} for i in range(n)]
        (tmp_path / "data" / f"{split}.jsonl").write_text(
            "".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def test_an_optimized_prompt_carries_its_demo_rows_and_survives_a_moved_dataset(
        make_task, tmp_path: Path, monkeypatch, capsys) -> None:
    home = tmp_path / "home"
    monkeypatch.setattr(run_module, "build_optimizer", lambda name: DemoToy())
    task = load_task(demo_task(make_task, tmp_path))
    options = OptimizeOptions(optimizer="toy", write_output=False, publish=True,
                              search=SearchOptions(home=home))
    result = asyncio.run(optimize(task, options, model=FakeModel(knows_demos)))
    assert result.warnings == () and len(result.best_val.candidate.demos) == 2
    version = open_registry(home, backend="local").get(parse_ref("t@candidate"))
    train = load_splits(task).train
    assert version.version == result.registered["version"] == 2  # 1 is the seed
    assert version.demo_rows == {ex.id: dict(ex.fields) for ex in train[:2]}
    shown = main(["registry", "show", "t@candidate"])
    out = capsys.readouterr().out
    assert shown == 0 and "text: train 1 good" in out and "label: positive" in out
    # the dataset changes: the registry version still brings its demos
    body = make_task().read_text().replace(
        "prompt:\n  system: Classify.\n  user: '{text}'\n", "prompt:\n  registry: t@candidate\n")
    moved = make_task(body)  # (this rewrites the data: none of the demos is in it any more)
    assert not {ex.id for ex in load_splits(load_task(moved)).train} & set(version.demo_rows)
    candidate, demos = tracked.registry_prompt(load_task(moved), home)
    assert candidate == result.best_val.candidate
    assert {d: dict(ex.fields) for d, ex in demos.items()} == version.demo_rows
    code = main(["eval", str(moved), "--json"])
    data = json.loads(capsys.readouterr().out)
    assert code == 0 and data["errors"] == 0 and data["n"] == 10
