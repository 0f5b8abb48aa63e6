"""Apply a prompt to a task file: specs, round-trip YAML, backups, diffs, reproducible scores."""

import asyncio
import json
import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pytest

import honed.lifecycle.optimize as run_module
from honed.engine.evaluate import run_eval
from honed.engine.session import EngineOptions
from honed.errors import ConfigError
from honed.lifecycle.apply import apply, apply_candidate, backup_path
from honed.lifecycle.optimize import OptimizeOptions, open_store, optimize
from honed.lifecycle.registry_memory import MemoryRegistry
from honed.lifecycle.specs import kind_of, needs, open_sources, resolve_spec
from honed.optimizers.base import SearchContext
from honed.task.config import load_splits, load_task
from honed.types import Candidate

TASK = """\
# Sentiment task: a comment that must survive
name: toy
model: fake:file=script.json   # scripted model
prompt:
  system: Classify.   # inline comment
  user: "{text}"
data:
  train: data/train.jsonl
  val: data/val.jsonl
  test: data/test.jsonl
evals:
  - type: exact_match   # sequence indented by 2
    expected: "{label}"
gates:
  - metric: score
    min: 0.5
"""


def rows(prefix: str, n: int) -> list[dict]:
    return [{"text": f"{prefix} item {i} {'good' if i % 2 else 'bad'}",
             "label": "positive" if i % 2 else "negative"} for i in range(n)]


def make(tmp_path: Path, body: str = TASK) -> Path:
    """A task whose fake model answers correctly only when the user prompt starts 'Label:'."""
    script: dict[str, str] = {}
    for split, n in (("train", 6), ("val", 8), ("test", 10)):
        data = rows(split, n)
        path = tmp_path / "data" / f"{split}.jsonl"
        path.parent.mkdir(exist_ok=True)
        path.write_text("".join(json.dumps(r) + "\n" for r in data), encoding="utf-8")
        for r in data:
            script[r["text"]] = "positive"
            script[f"Label: {r['text']}"] = r["label"]
    (tmp_path / "script.json").write_text(json.dumps(script), encoding="utf-8")
    task = tmp_path / "task.yaml"
    task.write_text(body, encoding="utf-8")
    return task


@dataclass
class Toy:
    """Proposes one better candidate: a new user prompt, a multi-line system prompt, demos."""

    name: str = "toy"

    async def search(self, ctx: SearchContext, seed: Candidate) -> None:
        demos = tuple(ex.id for ex in ctx.splits.train[:2])
        better = seed.with_components(system="Label the sentiment.\nAnswer with one word.",
                                      user="Label: {text}").with_demos(demos)
        ctx.iteration = 1
        ctx.record(await ctx.evaluate(better, "val"), accepted=True, phase="toy")


def record_run(task_path: Path, monkeypatch) -> dict:
    monkeypatch.setattr(run_module, "build_optimizer", lambda name: Toy())
    result = asyncio.run(optimize(load_task(task_path), OptimizeOptions(optimizer="toy",
                                                                        write_output=False)))
    return result.to_dict()


def test_run_best_applied_to_its_file_reproduces_the_test_score(tmp_path, monkeypatch) -> None:
    path = make(tmp_path)
    run = record_run(path, monkeypatch)
    assert run["seed"]["test"]["score"] == 0.5 and run["best"]["test"]["score"] == 1.0
    store = open_store()
    try:
        result = apply(run["run_id"], store=store)  # no task file: the run's own
    finally:
        store.close()
    assert result.written and result.task_path == path and result.backup is not None
    assert result.source is not None and result.source.meta["run_test_score"] == 1.0
    fresh = run_eval(load_task(path), split="test", options=EngineOptions(cache=False))
    assert fresh.report.summary.score == run["best"]["test"]["score"]
    assert fresh.report.summary.n == run["best"]["test"]["n"]
    assert fresh.report.candidate.id == run["best"]["candidate_id"]


def test_apply_keeps_comments_layout_and_writes_a_backup(tmp_path) -> None:
    path = make(tmp_path)
    before = path.read_text(encoding="utf-8")
    demo = load_splits(load_task(path)).train[0].id
    candidate = Candidate({"system": "Line one.\nLine two.", "user": "Label: {text}"},
                          (demo,))
    result = apply_candidate(candidate, path, label="manual",
                             now=datetime(2025, 3, 4, 5, 6, 7))
    text = path.read_text(encoding="utf-8")
    assert result.backup == tmp_path / "task.yaml.bak.20250304-050607"
    assert result.backup.read_text(encoding="utf-8") == before
    for kept in ("# Sentiment task: a comment that must survive", "# scripted model",
                 "# inline comment", "  - type: exact_match   # sequence indented by 2",
                 "    expected: \"{label}\"", "  - metric: score"):
        assert kept in text, kept
    assert text.startswith("# Applied by honed: manual (candidate ")
    assert "system: |-\n    Line one.\n    Line two." in text
    assert f"demos: [{demo}]" in text
    loaded = load_task(path)
    assert loaded.seed_candidate() == candidate and loaded.gates[0].min == 0.5
    changed = [line for line in result.diff.splitlines()
               if line[:1] in "+-" and not line.startswith(("+++", "---"))]
    assert all(("system" in line or "user" in line or "Line" in line or "demos" in line
                or "Applied by honed" in line or "# inline comment" in line)
               for line in changed), changed


def test_dry_run_returns_a_diff_and_writes_nothing(tmp_path) -> None:
    path = make(tmp_path)
    original = path.read_text(encoding="utf-8")
    result = apply_candidate(Candidate({"system": "New.", "user": "{text}"}), path,
                             dry_run=True)
    assert result.changed and not result.written and result.backup is None
    assert "-  system: Classify." in result.diff and "+  system: New." in result.diff
    assert result.diff.startswith(f"--- {path} (current)")
    assert path.read_text(encoding="utf-8") == original
    assert list(tmp_path.glob("task.yaml.bak.*")) == []


def test_applying_the_same_prompt_is_a_no_op(tmp_path) -> None:
    path = make(tmp_path)
    result = apply_candidate(load_task(path).seed_candidate(), path)
    assert not result.changed and result.diff == "" and result.backup is None
    assert list(tmp_path.glob("task.yaml.bak.*")) == []


def test_reapplying_replaces_the_header_and_keeps_distinct_backups(tmp_path) -> None:
    path = make(tmp_path)
    when = datetime(2025, 1, 1, 0, 0, 0)
    first = apply_candidate(Candidate({"system": "A.", "user": "{text}"}), path, label="one",
                            now=when)
    second = apply_candidate(Candidate({"system": "B.", "user": "{text}"}), path, label="two",
                             now=when)
    text = path.read_text(encoding="utf-8")
    assert text.count("Applied by honed") == 1 and "Applied by honed: two" in text
    assert first.backup != second.backup and second.backup.name.endswith("-2")
    assert backup_path(path, when).name == "task.yaml.bak.20250101-000000-3"


def test_a_prompt_that_does_not_fit_is_refused_and_nothing_written(tmp_path) -> None:
    path = make(tmp_path)
    original = path.read_text(encoding="utf-8")
    with pytest.raises(ConfigError, match="demo id 'nope'"):
        apply_candidate(Candidate({"system": "", "user": "{text}"}, ("nope",)), path)
    with pytest.raises(ConfigError, match=r"\{body\}"):
        apply_candidate(Candidate({"system": "", "user": "{body}"}), path)
    assert path.read_text(encoding="utf-8") == original
    assert list(tmp_path.glob("task.yaml.bak.*")) == []


def test_registry_reference_applies_that_version(tmp_path) -> None:
    path = make(tmp_path)
    registry = MemoryRegistry()
    registry.register("toy", Candidate({"system": "v1", "user": "{text}"}))
    registry.register("toy", Candidate({"system": "v2", "user": "Label: {text}"}))
    registry.set_alias("toy", "production", 1)
    result = apply("toy@production", path, registry=registry)
    assert load_task(path).prompt.system == "v1" and "(v1)" in result.source.label
    apply("toy/2", path, registry=registry)
    assert load_task(path).prompt.user == "Label: {text}"
    with pytest.raises(ConfigError, match="not found"):
        apply("toy@staging", path, registry=registry)


def test_another_task_file_is_a_source(tmp_path) -> None:
    path = make(tmp_path)
    other = tmp_path / "other.yaml"
    other.write_text(TASK.replace("system: Classify.", "system: From the other file."),
                     encoding="utf-8")
    apply(str(other), path)
    assert load_task(path).prompt.system == "From the other file."


def test_specs_are_classified_and_resolved(tmp_path) -> None:
    path = make(tmp_path)
    assert kind_of(str(path)) == "file" and kind_of("missing.yaml") == "file"
    assert kind_of("toy@production") == "registry" and kind_of("toy/3") == "registry"
    assert kind_of("20250101-000000-abcdef") == "run"
    assert needs(str(path)) == set() and needs("toy@x") == {"registry"}
    resolved = resolve_spec(str(path))
    assert resolved.kind == "file" and resolved.candidate.system == "Classify."
    assert resolved.to_dict()["task"] == "toy"


def test_task_file_with_prompt_registry_uses_the_registry(tmp_path) -> None:
    path = make(tmp_path, TASK.replace("  user: \"{text}\"\n",
                                       "  user: \"{text}\"\n  registry: toy@production\n"))
    assert needs(str(path)) == {"registry"}
    registry = MemoryRegistry()
    registry.register("toy", Candidate({"system": "from registry", "user": "{text}"}))
    registry.set_alias("toy", "production", 1)
    resolved = resolve_spec(str(path), registry=registry)
    assert resolved.candidate.system == "from registry" and "toy@production" in resolved.label


@pytest.mark.parametrize(("spec", "kwargs", "message"), [
    ("toy@production", {}, "--task"),
    ("nope.yaml", {}, "not found"),
    ("20250101-000000-abcdef", {}, "no run store"),
    ("", {}, "empty"),
])
def test_unresolvable_specs_are_config_errors(tmp_path, spec, kwargs, message) -> None:
    with pytest.raises(ConfigError) as info:
        resolve_spec(spec, **kwargs)
    assert message in str(info.value)


def test_unknown_and_unfinished_runs(tmp_path) -> None:
    store = open_store()
    try:
        with pytest.raises(ConfigError, match="not a task file, a prompt reference or a known"):
            resolve_spec("20250101-000000-abcdef", store=store)
        store.create_run("r1", kind="optimize", task="toy", task_path=None, optimizer="x",
                         config={})
        with pytest.raises(ConfigError, match="no result yet"):
            resolve_spec("r1", store=store)
        with pytest.raises(ConfigError, match="which task file"):
            apply(str(make(tmp_path)), None, store=store)
    finally:
        store.close()


def test_run_without_its_task_file_needs_task(tmp_path, monkeypatch) -> None:
    path = make(tmp_path)
    run = record_run(path, monkeypatch)
    moved = tmp_path / "moved.yaml"
    path.rename(moved)
    with open_sources([run["run_id"]]) as sources:
        assert sources.store is not None and sources.registry is None
        with pytest.raises(ConfigError, match="--task"):
            resolve_spec(run["run_id"], store=sources.store)
        resolved = resolve_spec(run["run_id"], store=sources.store,
                                base_task=load_task(moved))
    assert resolved.candidate.user == "Label: {text}" and len(resolved.candidate.demos) == 2
    assert re.fullmatch(r"run \S+ best \([0-9a-f]{8}\)", resolved.label)


def test_with_the_local_registry(tmp_path) -> None:
    local = pytest.importorskip("honed.lifecycle.registry_local")
    path = make(tmp_path)
    registry = local.LocalRegistry(tmp_path / "home" / "registry.sqlite")
    version = registry.register("toy", Candidate({"system": "local v1", "user": "{text}"}))
    registry.set_alias("toy", "production", version.version)
    apply("toy@production", path, registry=registry)
    assert load_task(path).prompt.system == "local v1"


def test_applied_demos_are_written_as_rows_and_reapplying_changes_nothing(make_task) -> None:
    path = make_task()
    task = load_task(path)
    train = load_splits(task).train
    candidate = Candidate({"system": "Classify.", "user": "{text}"},
                          (train[0].id, train[4].id))
    registry = MemoryRegistry()
    registry.register("t", candidate, demo_rows={ex.id: dict(ex.fields)
                                                 for ex in (train[0], train[4])})
    first = apply("t/1", path, registry=registry)
    text = path.read_text()
    assert first.changed and "I love it" in text and "terrible service" in text
    assert train[0].id not in text  # rows, not ids: the file stands on its own
    assert load_task(path).seed_candidate().id == candidate.id
    again = apply("t/1", path, registry=registry)
    assert not again.changed
