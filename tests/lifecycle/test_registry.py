"""The prompt registry, every backend behind one protocol (MLflow: a real local store)."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from honed.errors import ConfigError, GateFailed
from honed.lifecycle.promote import (
    blocked_from_tags,
    diff_versions,
    ensure_registered,
    gate_tags,
    promote,
    register_candidate,
    rollback,
)
from honed.lifecycle.registries import copy_prompts, open_registry
from honed.lifecycle.registry import (
    CANDIDATE,
    PREVIOUS,
    PRODUCTION,
    PromptRef,
    PromptVersion,
    parse_ref,
)
from honed.lifecycle.registry_local import MIGRATIONS, LocalRegistry
from honed.lifecycle.registry_memory import MemoryRegistry
from honed.task.config import load_task
from honed.types import Candidate

SEED = Candidate({"system": "Classify the {kind} of the text.", "user": "Text: {text}"})
TRICKY = Candidate(
    {"system": 'Reply in JSON like {"label": "x"}; literal {{braces}}; café ✓\nline two',
     "user": "{text}", "instruction": "an extra component"},
    ("ex-3", "ex-1", "ex-2"))


ROWS = {"ex-1": {"text": "great value", "label": "positive"},
        "ex-2": {"text": "awful ✗", "label": "negative", "meta": {"n": 2}},
        "ex-3": {"text": "it is blue", "label": "neutral"},
        "unused": {"text": "not a demo of this candidate"}}


def make_registry(kind: str, request: pytest.FixtureRequest, tmp_path: Path):
    if kind == "local":
        return open_registry(tmp_path / "home", backend="local")
    if kind == "memory":
        return MemoryRegistry()
    return open_registry(request.getfixturevalue("mlflow_home"), backend="mlflow")


@pytest.fixture(params=["local", "mlflow"])
def registry(request: pytest.FixtureRequest, tmp_path: Path):
    return make_registry(request.param, request, tmp_path)


@pytest.fixture(params=["local", "mlflow", "memory"])
def any_registry(request: pytest.FixtureRequest, tmp_path: Path):
    return make_registry(request.param, request, tmp_path)


# the protocol ---------------------------------------------------------------------------------
def test_the_backend_is_a_setting_not_a_guess(tmp_path: Path, mlflow_home: Path,
                                              monkeypatch) -> None:
    monkeypatch.delenv("HONED_REGISTRY", raising=False)
    assert open_registry(mlflow_home).backend == "local"  # MLflow is installed here: still local
    assert open_registry(mlflow_home, backend="mlflow").backend == "mlflow"
    monkeypatch.setenv("HONED_REGISTRY", "mlflow")
    assert open_registry(mlflow_home).backend == "mlflow"
    assert open_registry(tmp_path, backend="local").backend == "local"  # explicit wins
    monkeypatch.setenv("HONED_REGISTRY", "s3")
    with pytest.raises(ConfigError, match="HONED_REGISTRY"):
        open_registry(tmp_path)


@pytest.mark.parametrize("candidate", [SEED, TRICKY, Candidate({"system": "", "user": "{q}"})],
                         ids=["plain", "tricky", "no-system"])
def test_round_trip_is_exact(registry, candidate: Candidate) -> None:
    version = registry.register("sentiment", candidate, tags={"val_score": "0.75"})
    assert version.version == 1 and version.name == "sentiment"
    got = registry.get(PromptRef("sentiment", version=1))
    assert got.candidate == candidate and got.candidate.id == candidate.id
    assert got.candidate.demos == candidate.demos
    assert dict(got.tags) == {"val_score": "0.75"} and got.created > 0


def test_versions_count_up_and_stay_immutable(registry) -> None:
    for i in range(3):
        registry.register("p", SEED.with_components(system=f"v{i}"), tags={"i": str(i)})
    registry.register("other", SEED)
    versions = registry.versions("p")
    assert [v.version for v in versions] == [1, 2, 3]
    assert [v.candidate.system for v in versions] == ["v0", "v1", "v2"]
    assert [v.tags["i"] for v in versions] == ["0", "1", "2"]
    assert registry.names() == ["other", "p"]
    assert registry.get(PromptRef("p")).version == 3  # no alias, no version: the latest
    assert registry.versions("missing") == []


def test_aliases_move_and_resolve(registry) -> None:
    registry.register("p", SEED)
    registry.register("p", TRICKY)
    registry.set_alias("p", "production", 1)
    assert registry.get(parse_ref("p@production")).candidate == SEED
    registry.set_alias("p", "production", 2)
    registry.set_alias("p", "staging", 2)
    assert registry.aliases("p") == {"production": 2, "staging": 2}
    got = registry.get(PromptRef("p", version=2))
    assert set(got.aliases) == {"production", "staging"}
    assert registry.get(PromptRef("p", version=1)).aliases == ()


def test_missing_things_are_config_errors_naming_them(registry) -> None:
    registry.register("p", SEED)
    registry.set_alias("p", "production", 1)
    with pytest.raises(ConfigError, match="no prompt named 'nope'"):
        registry.get(PromptRef("nope", alias="production"))
    with pytest.raises(ConfigError, match="no prompt named 'nope'"):
        registry.get(PromptRef("nope", version=1))
    with pytest.raises(ConfigError, match="has no alias 'canary'") as exc:
        registry.get(PromptRef("p", alias="canary"))
    assert "production -> 1" in str(exc.value)
    with pytest.raises(ConfigError, match="has no version 7") as exc:
        registry.get(PromptRef("p", version=7))
    assert "versions are: 1" in str(exc.value)
    with pytest.raises(ConfigError, match="has no version 9"):
        registry.set_alias("p", "production", 9)
    with pytest.raises(ConfigError, match="invalid alias"):
        registry.set_alias("p", "bad alias!", 1)
    with pytest.raises(ConfigError, match="invalid prompt name"):
        registry.register("bad name", SEED)


# promote, rollback, register_candidate ----------------------------------------------------------
def test_promote_records_previous_production_and_rollback_swaps(registry) -> None:
    for system in ("a", "b", "c"):
        registry.register("p", SEED.with_components(system=system))
    first = promote(registry, "p", 1)
    assert first.changed and first.previous is None
    assert registry.aliases("p") == {PRODUCTION: 1}
    second = promote(registry, "p", 3)
    assert second.previous == 1
    assert registry.aliases("p") == {PRODUCTION: 3, PREVIOUS: 1}
    again = promote(registry, "p", 3)
    assert not again.changed and registry.aliases("p") == {PRODUCTION: 3, PREVIOUS: 1}
    back = rollback(registry, "p")
    assert (back.version, back.previous) == (1, 3)
    assert registry.aliases("p") == {PRODUCTION: 1, PREVIOUS: 3}
    assert registry.get(parse_ref("p@production")).candidate.system == "a"
    rollback(registry, "p")  # rolls forward again
    assert registry.aliases("p") == {PRODUCTION: 3, PREVIOUS: 1}


def test_blocked_promotion_needs_force(registry) -> None:
    registry.register("p", SEED)
    registry.register("p", TRICKY)
    promote(registry, "p", 1)
    with pytest.raises(GateFailed, match="no-regression"):
        promote(registry, "p", 2, blocked=["no-regression"])
    assert registry.aliases("p") == {PRODUCTION: 1}
    forced = promote(registry, "p", 2, blocked=["no-regression"], force=True)
    assert forced.forced and forced.blocked == ("no-regression",)
    assert registry.aliases("p")[PRODUCTION] == 2


def check_set_tags(registry) -> None:
    registry.register("p", SEED, tags={"val_score": "0.5"})
    registry.set_tags("p", 1, gate_tags("BLOCK_DEPLOY", ["min-score", "no-regression"]))
    tags = registry.get(PromptRef("p", version=1)).tags
    assert blocked_from_tags(tags) == ["min-score", "no-regression"]
    registry.set_tags("p", 1, gate_tags("PASS", []))  # a later passing check clears the block
    tags = registry.get(PromptRef("p", version=1)).tags
    assert tags["val_score"] == "0.5" and tags["honed.gate"] == "PASS"
    assert blocked_from_tags(tags) == []
    assert registry.get(PromptRef("p", version=1)).candidate == SEED  # the prompt is untouched
    with pytest.raises(ConfigError, match="p"):
        registry.set_tags("p", 7, {"x": "y"})


def test_set_tags_overwrites_tags_of_an_existing_version(registry) -> None:
    check_set_tags(registry)


def test_set_tags_in_memory() -> None:
    check_set_tags(MemoryRegistry())


def test_promote_and_rollback_errors(registry) -> None:
    with pytest.raises(ConfigError, match="no prompt named 'ghost'"):
        promote(registry, "ghost", 1)
    with pytest.raises(ConfigError, match="no prompt named 'ghost'"):
        rollback(registry, "ghost")
    registry.register("p", SEED)
    with pytest.raises(ConfigError, match="has no version 4"):
        promote(registry, "p", 4)
    promote(registry, "p", 1)
    with pytest.raises(ConfigError, match="previous-production"):
        rollback(registry, "p")


def test_register_candidate_tags_scores_and_moves_candidate_alias(registry) -> None:
    registry.register("p", SEED)
    version = register_candidate(registry, "p", TRICKY, {
        "val_score": 0.8123456789, "test_ci95": "[0.7, 0.9]", "run_id": "r-1", "n": 40,
        "honed.blocked": ["no-regression", "min-accuracy"], "missing": None})
    assert version.version == 2 and CANDIDATE in version.aliases
    assert dict(version.tags) == {"val_score": "0.812346", "test_ci95": "[0.7, 0.9]",
                                  "run_id": "r-1", "n": "40",
                                  "honed.blocked": "no-regression,min-accuracy"}
    assert blocked_from_tags(version.tags) == ["no-regression", "min-accuracy"]
    assert registry.aliases("p") == {CANDIDATE: 2}
    register_candidate(registry, "p", SEED.with_components(system="new"), {})
    assert registry.aliases("p") == {CANDIDATE: 3}


def test_ensure_registered_registers_the_seed_once(registry, make_task) -> None:
    task = load_task(make_task())
    first = ensure_registered(registry, task)
    assert (first.name, first.version) == ("t", 1)
    assert first.candidate == task.seed_candidate()
    assert first.tags.get("honed.source") == "seed"
    assert ensure_registered(registry, task).version == 1
    assert len(registry.versions("t")) == 1
    changed = load_task(make_task(make_task().read_text().replace("Classify.", "Label it.")))
    assert ensure_registered(registry, changed).version == 2
    assert ensure_registered(registry, task).version == 1  # the file went back: same content
    assert len(registry.versions("t")) == 2


def test_ensure_registered_leaves_registry_prompts_alone(registry, make_task) -> None:
    registry.register("shared", TRICKY)
    registry.set_alias("shared", PRODUCTION, 1)
    text = make_task().read_text().replace("user: '{text}'",
                                           "user: '{text}'\n  registry: shared@production")
    task = load_task(make_task(text))
    assert ensure_registered(registry, task).candidate == TRICKY
    assert registry.names() == ["shared"]


def test_diff_versions_shows_system_user_and_demos(registry) -> None:
    registry.register("p", SEED)
    registry.register("p", SEED.with_components(system="Classify it.").with_demos(("d1",)))
    text = diff_versions(registry, "p", 1, 2)
    assert text.startswith("--- p/1\n+++ p/2\n")
    assert "-Classify the {kind} of the text.\n" in text and "+Classify it.\n" in text
    assert "+d1\n" in text and " ## user\n" in text
    assert diff_versions(registry, "p", 2, 2) == ""
    with pytest.raises(ConfigError, match="has no version 3"):
        diff_versions(registry, "p", 1, 3)


# content identity -------------------------------------------------------------------------------
def test_identical_content_returns_the_existing_version(any_registry) -> None:
    registry = any_registry
    first = registry.register("p", TRICKY, tags={"run": "1"})
    registry.register("p", SEED)
    again = registry.register("p", Candidate(dict(TRICKY.components), TRICKY.demos),
                              tags={"run": "2"})
    assert again.version == first.version == 1 and again.candidate == TRICKY
    assert again.tags["run"] == "1"  # a version is what was registered first
    assert [v.version for v in registry.versions("p")] == [1, 2]
    other_demos = registry.register("p", TRICKY.with_demos(("ex-1", "ex-3", "ex-2")))
    no_demos = registry.register("p", TRICKY.with_demos(()))
    assert (other_demos.version, no_demos.version) == (3, 4)  # demos are content, order too
    assert registry.register("q", TRICKY).version == 1  # per prompt name


def test_register_candidate_with_known_content_moves_candidate_and_records_scores(
        any_registry) -> None:
    registry = any_registry
    registry.register("p", SEED, tags={"honed.source": "seed"})
    registry.register("p", TRICKY)
    registry.set_alias("p", CANDIDATE, 2)
    version = register_candidate(registry, "p", SEED, {"val_score": 0.5,
                                                       "honed.gate": "PASS"})
    assert version.version == 1 and len(registry.versions("p")) == 2
    assert registry.aliases("p")[CANDIDATE] == 1
    tags = registry.get(PromptRef("p", version=1)).tags
    assert tags == {"honed.source": "seed", "val_score": "0.5", "honed.gate": "PASS"}


# demos carried with the version -----------------------------------------------------------------
def test_versions_carry_their_demo_rows(any_registry) -> None:
    registry = any_registry
    registered = register_candidate(registry, "p", TRICKY, {"val_score": 0.9}, demo_rows=ROWS)
    expected = {k: ROWS[k] for k in ("ex-3", "ex-1", "ex-2")}  # the candidate's demos only
    assert registered.demo_rows == expected
    assert registry.get(PromptRef("p", version=1)).demo_rows == expected
    assert registry.get(PromptRef("p", alias=CANDIDATE)).demo_rows == expected
    assert registry.versions("p")[0].demo_rows == expected
    plain = registry.register("p", SEED, demo_rows=ROWS)
    assert plain.demo_rows == {}  # no demos, no rows


def test_rows_missing_from_an_older_version_are_filled_in(any_registry) -> None:
    registry = any_registry
    registry.register("p", TRICKY)  # registered before rows were kept
    assert registry.get(PromptRef("p", version=1)).demo_rows == {}
    again = registry.register("p", TRICKY, demo_rows=ROWS)
    assert again.version == 1 and set(again.demo_rows) == {"ex-1", "ex-2", "ex-3"}
    assert registry.register("p", TRICKY, demo_rows={"ex-1": {"text": "other"}}).demo_rows[
        "ex-1"] == ROWS["ex-1"]  # stored rows are never replaced


def test_render_and_diff_show_the_demos_text(registry) -> None:
    registry.register("p", SEED.with_demos(("ex-1",)), demo_rows=ROWS)
    registry.register("p", SEED.with_demos(("ex-2",)), demo_rows=ROWS)
    text = diff_versions(registry, "p", 1, 2)
    assert "-  text: great value\n" in text and "+  text: awful ✗\n" in text
    assert '+  meta: {"n": 2}\n' in text


# copying between backends -----------------------------------------------------------------------
def seeded(registry) -> None:
    """Prompt 'p' at three versions with tags, demo rows and aliases, and prompt 'q'."""
    registry.register("p", SEED, tags={"honed.source": "seed"})
    register_candidate(registry, "p", TRICKY, {"val_score": 0.8}, demo_rows=ROWS)
    registry.register("p", SEED.with_components(system="v3"), tags={"honed.gate": "FAIL"})
    promote(registry, "p", 1)
    promote(registry, "p", 2)
    registry.register("q", Candidate({"system": "", "user": "{q}"}))


@pytest.mark.parametrize("direction", ["local->mlflow", "mlflow->local", "memory->local"])
def test_copy_moves_everything_and_twice_copies_nothing(direction: str, request, tmp_path) -> None:
    source, target = (make_registry(k, request, tmp_path) for k in direction.split("->"))
    seeded(source)
    report = copy_prompts(source, target)
    assert report.versions == {"p": [1, 2, 3], "q": [1]} and report.changed
    for name in ("p", "q"):
        assert target.aliases(name) == source.aliases(name)
        for a, b in zip(source.versions(name), target.versions(name), strict=True):
            assert (a.version, a.candidate, dict(a.tags), dict(a.demo_rows)) == (
                b.version, b.candidate, dict(b.tags), dict(b.demo_rows))
    again = copy_prompts(source, target)
    assert not again.changed and again.versions == {"p": [], "q": []}
    assert len(target.versions("p")) == 3


def test_copy_follows_content_into_a_registry_with_history(tmp_path: Path) -> None:
    source, target = MemoryRegistry(), open_registry(tmp_path / "t", backend="local")
    seeded(source)
    target.register("p", Candidate({"system": "only in the target", "user": "{x}"}))
    target.register("p", TRICKY)  # the same content as source p/2, without its tags
    source.set_tags("p", 2, {"honed.gate": "PASS"})
    report = copy_prompts(source, target, ["p"])
    assert report.mapping["p"] == {1: 3, 2: 2, 3: 4} and report.versions["p"] == [3, 4]
    assert target.aliases("p") == {CANDIDATE: 2, PRODUCTION: 2, PREVIOUS: 3}
    assert target.get(PromptRef("p", version=2)).tags["honed.gate"] == "PASS"
    assert set(target.get(PromptRef("p", version=2)).demo_rows) == {"ex-1", "ex-2", "ex-3"}
    assert not copy_prompts(source, target, ["p"]).changed
    with pytest.raises(ConfigError, match="no prompt named 'ghost'"):
        copy_prompts(open_registry(tmp_path / "s", backend="local"), target, ["ghost"])


def test_copy_merges_legacy_duplicates_once(tmp_path: Path) -> None:
    """Versions registered twice before content identity existed: one target version, the
    first one's tags, the later one's extra tags, and a stable second copy."""
    source = MemoryRegistry()
    source.register("p", SEED, tags={"val_score": "0.5"})
    source._versions["p"].append(PromptVersion("p", 2, SEED, {"val_score": "0.7",
                                                              "honed.run_id": "r2"}))
    source.set_alias("p", CANDIDATE, 2)
    target = open_registry(tmp_path, backend="local")
    report = copy_prompts(source, target)
    assert report.mapping["p"] == {1: 1, 2: 1}
    assert target.get(PromptRef("p", version=1)).tags == {"val_score": "0.5",
                                                          "honed.run_id": "r2"}
    assert target.aliases("p") == {CANDIDATE: 1}
    assert not copy_prompts(source, target).changed


# backend specifics --------------------------------------------------------------------------------
def test_local_migrations_are_ordered_and_idempotent(tmp_path: Path) -> None:
    path = tmp_path / "registry.sqlite"
    LocalRegistry(path).close()
    registry = LocalRegistry(path)
    assert registry.applied_migrations() == [name for name, _ in MIGRATIONS]
    assert [n for n, _ in MIGRATIONS] == sorted(n for n, _ in MIGRATIONS)
    registry.close()


def test_a_registry_from_before_demo_rows_upgrades_in_place(tmp_path: Path) -> None:
    path = tmp_path / "registry.sqlite"
    old = LocalRegistry.__new__(LocalRegistry)
    old.MIGRATIONS = MIGRATIONS[:3]
    LocalRegistry.__init__(old, path)
    body = json.dumps(TRICKY.to_dict())
    with sqlite3.connect(path) as db:
        db.execute("INSERT INTO versions VALUES (?,?,?,?,?)", ("p", 1, TRICKY.id, body, 1.0))
    old.close()
    registry = LocalRegistry(path)
    assert registry.get(PromptRef("p", version=1)).candidate == TRICKY
    assert registry.register("p", TRICKY, demo_rows=ROWS).version == 1
    assert set(registry.get(PromptRef("p", version=1)).demo_rows) == {"ex-1", "ex-2", "ex-3"}
    registry.close()


def test_mlflow_versions_are_native_chat_prompts(mlflow_home: Path) -> None:
    """MLflow users load honed's prompts directly: a chat template with {{var}} placeholders."""
    from mlflow import MlflowClient

    registry = open_registry(mlflow_home, backend="mlflow")
    registry.register("sentiment", TRICKY, tags={"val_score": "0.9"})
    promote(registry, "sentiment", 1)
    client = MlflowClient(tracking_uri=registry.uri, registry_uri=registry.uri)
    pv = client.load_prompt("prompts:/sentiment@production")
    assert pv.template == [
        {"role": "system", "content": 'Reply in JSON like {"label": "x"}; literal {braces}; '
                                      "café ✓\nline two"},
        {"role": "user", "content": "{{text}}"}]
    assert pv.tags["honed.demos"] == "ex-3,ex-1,ex-2" and pv.tags["val_score"] == "0.9"
    assert pv.format(text="great")[1]["content"] == "great"
    assert "ex-3" in (pv.commit_message or "")


def test_mlflow_keeps_demo_rows_in_a_version_tag(mlflow_home: Path, monkeypatch) -> None:
    """MLflow users see the demos' rows on the version (tag honed.demo_rows, canonical JSON)."""
    from mlflow import MlflowClient

    from honed.lifecycle import registry_mlflow

    registry = open_registry(mlflow_home, backend="mlflow")
    registry.register("sentiment", TRICKY, demo_rows=ROWS)
    client = MlflowClient(tracking_uri=registry.uri, registry_uri=registry.uri)
    pv = client.get_prompt_version("sentiment", 1)
    assert json.loads(pv.tags["honed.demo_rows"])["ex-2"] == ROWS["ex-2"]
    assert "honed.demo_rows" not in registry.get(PromptRef("sentiment", version=1)).tags
    monkeypatch.setattr(registry_mlflow, "MAX_TAG", 50)
    big = registry.register("sentiment", TRICKY.with_demos(("ex-1", "ex-2")), demo_rows=ROWS)
    assert big.demo_rows == {} and "over MLflow's 50" in client.get_prompt_version(
        "sentiment", big.version).tags["honed.demo_rows_omitted"]


def test_mlflow_prompts_made_outside_honed_are_readable(mlflow_home: Path) -> None:
    from mlflow import MlflowClient

    registry = open_registry(mlflow_home, backend="mlflow")
    client = MlflowClient(tracking_uri=registry.uri, registry_uri=registry.uri)
    client.register_prompt("by-hand", "Summarize: {{doc}}")
    client.register_prompt("chat-by-hand", [{"role": "system", "content": "Be {{tone}}."},
                                            {"role": "user", "content": "{{question}}"}])
    text = registry.get(PromptRef("by-hand", version=1)).candidate
    assert text == Candidate({"system": "", "user": "Summarize: {doc}"})
    chat = registry.get(PromptRef("chat-by-hand", version=1)).candidate
    assert chat == Candidate({"system": "Be {tone}.", "user": "{question}"})
    assert registry.names() == ["by-hand", "chat-by-hand"]
