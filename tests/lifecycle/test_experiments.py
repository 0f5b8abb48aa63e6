"""Acting on experiments: start (and what it refuses), check and apply each verdict, stop,
roll back. A real SQLite production log and the local registry; traffic is logged as the
server logs it, each user in the arm the salted hash gives it."""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from honed.errors import ConfigError, GateFailed
from honed.experiments import (
    Experiment,
    ExperimentConfig,
    assign,
    parse_guardrails,
    parse_metric,
    unit_of,
)
from honed.lifecycle.experiments import (
    check_experiment,
    check_experiments,
    experiment_status,
    rollback_decision,
    start_experiment,
    stop_experiment,
)
from honed.lifecycle.promote import gate_tags
from honed.lifecycle.registries import open_registry
from honed.lifecycle.registry import PREVIOUS, PRODUCTION, PromptRef, PromptRegistry
from honed.store import LogStore, open_store
from honed.store.experiments import ExperimentStore
from honed.types import Candidate


@dataclass
class World:
    store: LogStore
    registry: PromptRegistry

    @property
    def es(self) -> ExperimentStore:
        return ExperimentStore.of(self.store)

    def aliases(self) -> dict[str, int]:
        return self.registry.aliases("sent")


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    registry = open_registry(tmp_path / "home", backend="local")
    for text in ("v1 {text}", "v2 {text}", "v3 {text}"):
        registry.register("sent", Candidate({"system": "Classify.", "user": text}))
    registry.set_alias("sent", PRODUCTION, 1)
    registry.set_alias("sent", "candidate", 2)
    with open_store(f"sqlite:///{tmp_path / 'log.sqlite'}") as store:
        yield World(store, registry)
    registry.close()  # type: ignore[attr-defined]


def _config(**overrides: Any) -> ExperimentConfig:
    fields: dict[str, Any] = dict(name="exp", control="sent@production",
                                  treatment="sent@candidate", metric=parse_metric("feedback"),
                                  split=0.5)
    fields.update(overrides)
    return ExperimentConfig(**fields)


def traffic(world: World, experiment: Experiment, users: int, *, p_control: float,
            p_treatment: float, seed: int = 0, error_rate: float = 0.0,
            feedback: Callable[[random.Random, float], dict[str, Any]] | None = None) -> None:
    """One request per user, routed as the server routes it, with a 0/1 feedback score."""
    rng = random.Random(seed)
    rows, scores = [], []
    for i in range(users):
        user = f"user-{seed}-{i}"
        arm = assign(experiment.salt, unit_of(user, ""), experiment.split)
        version = experiment.control_version if arm == "control" \
            else experiment.treatment_version
        failed = rng.random() < error_rate
        rid = f"req-{seed}-{i}"
        rows.append({"id": rid, "prompt": "sent", "version": version, "alias": "production",
                     "inputs": {"text": f"t{i}"}, "output": None if failed else "positive",
                     "error": "boom" if failed else None, "latency_s": 0.05, "user_id": user,
                     "arm": arm, "experiment": experiment.name})
        p = p_control if arm == "control" else p_treatment
        if not failed:
            scores.append((rid, feedback(rng, p) if feedback else
                           {"score": float(rng.random() < p)}))
    world.store.log_requests(rows)
    for rid, item in scores:
        world.store.add_feedback(rid, **item)


# starting ---------------------------------------------------------------------------------------
def test_start_resolves_the_references(world: World) -> None:
    rails = parse_guardrails(["error_rate<0.05"])
    exp = start_experiment(world.store, world.registry, _config(guardrails=rails,
                                                                max_requests=100))
    assert (exp.prompt, exp.control_version, exp.treatment_version) == ("sent", 1, 2)
    assert exp.running and exp.alias == PRODUCTION and exp.salt and exp.guardrails == rails
    assert world.es.get("exp")["treatment_ref"] == "sent@candidate"


@pytest.mark.parametrize(("overrides", "says", "field"), [
    ({"control": "sent/1"}, "is not NAME@ALIAS", "--control"),
    ({"treatment": "other@candidate"}, "names prompt 'other'", "--treatment"),
    ({"treatment": "sent/1"}, "both version 1", "--treatment"),
    ({"treatment": "sent@nope"}, "has no alias 'nope'", "sent@nope"),
    ({"split": 1.5}, "not a share between 0 and 1", "--split"),
    ({"metric": parse_metric("eval:acc")}, "needs the task", "--task"),
    ({"name": "bad name"}, "invalid experiment name", "NAME"),
])
def test_start_refuses_bad_input(world: World, overrides: dict[str, Any], says: str,
                                 field: str) -> None:
    with pytest.raises(ConfigError, match=says) as caught:
        start_experiment(world.store, world.registry, _config(**overrides))
    assert caught.value.field == field
    assert world.es.experiments() == []


def test_one_running_experiment_per_control_and_no_blocked_treatment(world: World) -> None:
    start_experiment(world.store, world.registry, _config())
    with pytest.raises(ConfigError, match="'exp' already splits sent@production"):
        start_experiment(world.store, world.registry, _config(name="again",
                                                              treatment="sent/3"))
    world.registry.set_tags("sent", 3, gate_tags("FAIL", ["accuracy>=0.9"]))
    stop_experiment(world.store, "exp")
    with pytest.raises(GateFailed, match=r"accuracy>=0\.9"):
        start_experiment(world.store, world.registry, _config(name="again",
                                                              treatment="sent/3"))


def test_an_eval_metric_needs_an_eval_the_task_has(world: World,
                                                   make_task: Callable[..., Path]) -> None:
    task = make_task()
    with pytest.raises(ConfigError, match="no eval named 'nope'"):
        start_experiment(world.store, world.registry,
                         _config(metric=parse_metric("eval:nope"), task=str(task)))
    exp = start_experiment(world.store, world.registry,
                           _config(metric=parse_metric("eval:exact_match"), task=str(task)))
    assert exp.task == str(task.resolve())


# checking and acting ----------------------------------------------------------------------------
def test_a_win_promotes_with_evidence_and_can_be_rolled_back(world: World) -> None:
    exp = start_experiment(world.store, world.registry, _config())
    traffic(world, exp, 30, p_control=0.3, p_treatment=0.9, seed=1)  # under 20 an arm
    early = check_experiment(world.store, world.registry, "exp")
    assert early.decision is None and early.experiment.running
    traffic(world, exp, 500, p_control=0.3, p_treatment=0.9, seed=2)
    report = check_experiment(world.store, world.registry, "exp")
    assert report.experiment.status == "won" and report.decision is not None
    decision = report.decision
    assert (decision["kind"], decision["alias"], decision["from_version"],
            decision["to_version"]) == ("promote", PRODUCTION, 1, 2)
    evidence = decision["evidence"]
    assert evidence["diff"] > 0.3 and evidence["ci"][0] > 0 and evidence["p_value"] < 0.05
    assert evidence["n_control"] + evidence["n_treatment"] == 530
    assert evidence["srm_alarm"] is False
    assert world.aliases()[PRODUCTION] == 2 and world.aliases()[PREVIOUS] == 1
    tags = world.registry.get(PromptRef("sent", version=2)).tags
    assert tags["honed.experiment"] == "exp" and float(tags["honed.experiment.p_value"]) < 0.05
    assert tags["honed.experiment.control"] == "sent/1"
    assert check_experiment(world.store, world.registry, "exp").decision is None  # ended

    undo = rollback_decision(world.store, world.registry, "sent")
    assert (undo["kind"], undo["from_version"], undo["to_version"]) == ("rollback", 2, 1)
    assert undo["undid"]["id"] == decision["id"] and undo["undid"]["undone_by"] == undo["id"]
    assert world.aliases()[PRODUCTION] == 1
    assert world.registry.get(PromptRef("sent", version=2)).tags[
        "honed.experiment.rolled_back"] == str(undo["id"])
    with pytest.raises(ConfigError, match="no promotion of prompt 'sent' to undo"):
        rollback_decision(world.store, world.registry, "sent")


def test_a_loss_keeps_production_and_stops_routing(world: World) -> None:
    exp = start_experiment(world.store, world.registry, _config())
    traffic(world, exp, 500, p_control=0.9, p_treatment=0.3, seed=3)
    report = check_experiment(world.store, world.registry, "exp")
    assert report.experiment.status == "lost" and report.decision["kind"] == "keep"
    assert world.aliases()[PRODUCTION] == 1 and PREVIOUS not in world.aliases()
    assert world.es.running() == []


def test_a_breach_and_an_expiry_keep_production(world: World) -> None:
    rails = parse_guardrails(["error_rate<0.02"])
    exp = start_experiment(world.store, world.registry, _config(guardrails=rails))
    traffic(world, exp, 300, p_control=0.5, p_treatment=0.5, seed=4, error_rate=0.3)
    report = check_experiment(world.store, world.registry, "exp")
    assert report.experiment.status == "breached"
    assert "error_rate<0.02" in report.decision["evidence"]["reason"]

    later = start_experiment(world.store, world.registry, _config(name="later",
                                                                  max_requests=50))
    traffic(world, later, 60, p_control=0.5, p_treatment=0.5, seed=5)
    expired = check_experiment(world.store, world.registry, "later")
    assert expired.experiment.status == "expired" and expired.decision["kind"] == "keep"
    assert world.aliases()[PRODUCTION] == 1


def test_a_win_on_another_alias_moves_that_alias(world: World) -> None:
    world.registry.set_alias("sent", "staging", 1)
    exp = start_experiment(world.store, world.registry, _config(control="sent@staging"))
    traffic(world, exp, 500, p_control=0.2, p_treatment=0.9, seed=6)
    report = check_experiment(world.store, world.registry, "exp")
    assert report.decision["alias"] == "staging"
    assert world.aliases()["staging"] == 2 and world.aliases()[PRODUCTION] == 1
    rollback_decision(world.store, world.registry, "sent")
    assert world.aliases()["staging"] == 1


def test_an_eval_metric_scores_logged_outputs(world: World,
                                              make_task: Callable[..., Path]) -> None:
    exp = start_experiment(world.store, world.registry,
                           _config(metric=parse_metric("eval:exact_match"),
                                   task=str(make_task())))

    def label(rng: random.Random, p: float) -> dict[str, Any]:
        return {"label": "positive" if rng.random() < p else "negative"}

    traffic(world, exp, 500, p_control=0.2, p_treatment=0.9, seed=7, feedback=label)
    report = check_experiment(world.store, world.registry, "exp")
    assert report.experiment.status == "won"
    assert len(world.es.scores("exact_match")) == 500


def test_a_moved_control_alias_stops_the_experiment(world: World) -> None:
    start_experiment(world.store, world.registry, _config())
    world.registry.set_alias("sent", PRODUCTION, 3)
    report = check_experiment(world.store, world.registry, "exp")
    assert report.experiment.status == "stopped" and report.decision["kind"] == "stop"
    assert "moved from version 1 to 3" in report.decision["evidence"]["reason"]


def test_stop_by_hand_once(world: World) -> None:
    start_experiment(world.store, world.registry, _config())
    decision = stop_experiment(world.store, "exp")
    assert decision["kind"] == "stop" and decision["to_version"] == 1
    assert world.es.get("exp")["status"] == "stopped"
    with pytest.raises(ConfigError, match="not running"):
        stop_experiment(world.store, "exp")
    with pytest.raises(ConfigError, match="no experiment named 'nope'"):
        stop_experiment(world.store, "nope")


def test_rollback_refuses_when_the_alias_moved_since(world: World) -> None:
    exp = start_experiment(world.store, world.registry, _config())
    traffic(world, exp, 500, p_control=0.2, p_treatment=0.9, seed=8)
    check_experiment(world.store, world.registry, "exp")
    world.registry.set_alias("sent", PRODUCTION, 3)
    with pytest.raises(ConfigError, match="moved since"):
        rollback_decision(world.store, world.registry, "sent")
    assert world.aliases()[PRODUCTION] == 3


def test_check_all_reports_an_experiment_it_cannot_measure_and_goes_on(
        world: World, make_task: Callable[..., Path]) -> None:
    task = make_task()
    start_experiment(world.store, world.registry,
                     _config(metric=parse_metric("eval:exact_match"), task=str(task)))
    world.registry.set_alias("sent", "staging", 1)
    start_experiment(world.store, world.registry, _config(name="ok", control="sent@staging"))
    task.unlink()
    reports = {r.experiment.name: r for r in check_experiments(world.store, world.registry)}
    assert "task.yaml" in str(reports["exp"].error) and reports["ok"].error is None
    assert reports["ok"].analysis is not None
    with pytest.raises(ConfigError, match="no experiment named 'nope'"):
        check_experiments(world.store, world.registry, ["nope"])


def test_status_measures_a_running_experiment_without_deciding(world: World) -> None:
    exp = start_experiment(world.store, world.registry, _config())
    traffic(world, exp, 500, p_control=0.2, p_treatment=0.9, seed=9)
    data = experiment_status(world.store, "exp")
    assert data["analysis"]["verdict"]["outcome"] == "won"
    assert data["experiment"]["status"] == "running" and data["decisions"] == []
    assert world.aliases()[PRODUCTION] == 1


def test_two_checkers_act_once(world: World) -> None:
    exp = start_experiment(world.store, world.registry, _config())
    traffic(world, exp, 500, p_control=0.2, p_treatment=0.9, seed=10)
    world.registry.set_alias("sent", PRODUCTION, 2)  # another checker is promoting right now
    first = check_experiment(world.store, world.registry, "exp")
    assert first.decision is not None and first.decision["kind"] == "promote"
    assert first.decision["from_version"] == 1  # the control's version, not the alias's now
    second = check_experiment(world.store, world.registry, "exp")
    assert second.decision is None and second.experiment.status == "won"
    assert [d["kind"] for d in world.es.decisions(prompt="sent")] == ["promote"]
