"""Acting on online experiments: start one, check it, apply its verdict, stop it, undo a
decision. The CLI, the server's periodic check and the continuous-learning loop all call these.

- ``won``: the treatment version takes the control's alias (``promote`` for ``production``,
  which also records ``previous-production``); the evidence goes into ``decisions`` (kind
  ``promote``) and onto the promoted version as ``honed.experiment.*`` tags.
- ``lost``, ``breached``, ``expired``: routing stops and the control's alias stays where it is
  (a ``keep`` decision with the evidence).
- stopped by hand, or because the control's alias moved while it ran: a ``stop`` decision.
- ``rollback_decision``: the latest promotion an experiment made for a prompt is undone (the
  alias moves back) and the undo is itself recorded (a ``rollback`` decision).

An experiment ends once: the store concludes it and records its decision in one transaction,
so two checkers (a cron job and the server) never both act.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from honed.errors import ConfigError, GateFailed
from honed.experiments import (
    BREACHED,
    EXPIRED,
    LOST,
    WON,
    Analysis,
    Experiment,
    ExperimentConfig,
    create,
    load,
    measure,
    new_experiment,
)
from honed.lifecycle.promote import blocked_from_tags, promote, score_tags
from honed.lifecycle.registry import PRODUCTION, PromptRef, PromptRegistry, parse_ref
from honed.store.experiments import ExperimentStore

PROMOTE, KEEP, STOP, ROLLBACK = "promote", "keep", "stop", "rollback"
TAG_PREFIX = "honed.experiment"
STOPPED = "stopped"


@dataclass(frozen=True)
class CheckReport:
    """One experiment after a check: its analysis (None when it was not running, or could not
    be measured), the decision taken (None while it runs on), or the error that kept it from
    being checked."""

    experiment: Experiment
    analysis: Analysis | None = None
    decision: Mapping[str, Any] | None = None
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"experiment": self.experiment.to_dict(),
                "analysis": None if self.analysis is None else self.analysis.to_dict(),
                "decision": None if self.decision is None else dict(self.decision),
                "error": self.error}


def experiment_store(store: Any) -> ExperimentStore:
    """``store``: an ExperimentStore, or the LogStore whose database holds the experiments."""
    return store if isinstance(store, ExperimentStore) else ExperimentStore.of(store)


# starting ---------------------------------------------------------------------------------------
def _refs(registry: PromptRegistry, config: ExperimentConfig) -> tuple[str, int, int]:
    control, treatment = parse_ref(config.control), parse_ref(config.treatment)
    if control is None or control.alias is None:
        raise ConfigError(f"--control {config.control!r} is not NAME@ALIAS", field="--control",
                          fix="name the alias whose traffic is split, e.g. NAME@production")
    if treatment is None:
        raise ConfigError(f"--treatment {config.treatment!r} is not a prompt reference",
                          field="--treatment", fix="use NAME@ALIAS or NAME/VERSION")
    if treatment.name != control.name:
        raise ConfigError(f"--treatment names prompt {treatment.name!r} but --control names "
                          f"{control.name!r}", field="--treatment",
                          fix="compare two versions of the same prompt")
    control_version = registry.get(control).version
    treatment_version = registry.get(treatment)
    if treatment_version.version == control_version:
        raise ConfigError(f"{config.treatment} and {config.control} are both version "
                          f"{control_version}", field="--treatment",
                          fix="register the candidate first; the treatment must differ")
    blocked = blocked_from_tags(treatment_version.tags)
    if blocked:
        raise GateFailed(f"{control.name}/{treatment_version.version} is blocked from "
                         f"production by failed BLOCK_DEPLOY gate(s): {', '.join(blocked)}")
    return control.name, control_version, treatment_version.version


def start_experiment(store: Any, registry: PromptRegistry, config: ExperimentConfig, *,
                     now: float | None = None) -> Experiment:
    """Resolve the references, check the config and store a running experiment. One running
    experiment per control reference; an ``eval:NAME`` metric needs the task to define NAME."""
    from honed.experiments.scoring import eval_spec

    config.validate()
    es = experiment_store(store)
    prompt, control_version, treatment_version = _refs(registry, config)
    clash = [e["name"] for e in es.running() if e["control_ref"] == config.control]
    if clash:
        raise ConfigError(f"experiment {clash[0]!r} already splits {config.control}",
                          field="--control", fix=f"stop it first: honed experiment stop "
                                                 f"{clash[0]}")
    task = config.task
    if config.metric.kind == "eval":
        from honed.task.config import load_task

        path = Path(str(config.task))
        eval_spec(load_task(path), str(config.metric.eval))
        task = str(path.resolve())
    config = replace(config, task=task)
    return create(es, new_experiment(config, prompt, control_version, treatment_version,
                                     now=now))


# checking and acting ----------------------------------------------------------------------------
def check_experiment(store: Any, registry: PromptRegistry, name: str, *,
                     now: float | None = None) -> CheckReport:
    """Measure a running experiment and act on a final verdict; an ended one is returned as
    is. ConfigError when the experiment is unknown or cannot be measured (its task file is
    gone, say)."""
    es = experiment_store(store)
    experiment = load(es, name)
    if not experiment.running:
        return CheckReport(experiment)
    now = time.time() if now is None else now
    current = registry.aliases(experiment.prompt).get(experiment.alias)
    # at the treatment: another checker is promoting it this instant (it concludes next)
    if current not in (experiment.control_version, experiment.treatment_version):
        reason = (f"{experiment.control_ref} moved from version {experiment.control_version} "
                  f"to {current} while the experiment ran")
        decision = _stop(es, experiment, reason, now)
        return CheckReport(load(es, name), None, decision)
    analysis = measure(es, experiment, now=now)
    if not analysis.verdict.final:
        es.save_result(name, analysis.to_dict())
        return CheckReport(load(es, name), analysis)
    decision = apply_verdict(es, registry, experiment, analysis, now=now)
    return CheckReport(load(es, name), analysis, decision)


def check_experiments(store: Any, registry: PromptRegistry, names: Iterable[str] = (), *,
                      now: float | None = None) -> list[CheckReport]:
    """Check the named experiments (every running one by default). Unknown names are a
    ConfigError before anything is checked; an experiment that cannot be measured is reported
    with its error and the others are still checked."""
    es = experiment_store(store)
    wanted = list(names)
    chosen = [load(es, n) for n in wanted] if wanted else [
        Experiment.from_row(row) for row in es.running()]
    reports = []
    for experiment in chosen:
        try:
            reports.append(check_experiment(es, registry, experiment.name, now=now))
        except ConfigError as exc:
            reports.append(CheckReport(experiment, error=str(exc)))
    return reports


def apply_verdict(store: Any, registry: PromptRegistry, experiment: Experiment,
                  analysis: Analysis, *, now: float | None = None
                  ) -> Mapping[str, Any] | None:
    """Act on a final verdict and record it; returns the decision, or None when another
    checker concluded the experiment first."""
    es = experiment_store(store)
    outcome, evidence = analysis.verdict.outcome, analysis.evidence()
    base = {"prompt": experiment.prompt, "alias": experiment.alias,
            "from_version": experiment.control_version}
    if outcome == WON:
        try:
            _promote(registry, experiment, evidence)
        except GateFailed as exc:
            decision = {**base, "kind": KEEP, "to_version": experiment.control_version,
                        "evidence": {**evidence, "blocked": str(exc)}}
        else:
            decision = {**base, "kind": PROMOTE, "to_version": experiment.treatment_version,
                        "evidence": evidence}
    elif outcome in (LOST, BREACHED, EXPIRED):
        decision = {**base, "kind": KEEP, "to_version": experiment.control_version,
                    "evidence": evidence}
    else:
        raise ConfigError(f"the verdict {outcome!r} is not final; nothing to apply")
    return es.conclude(experiment.name, outcome, analysis.to_dict(), decision, now=now)


def _promote(registry: PromptRegistry, experiment: Experiment,
             evidence: Mapping[str, Any]) -> None:
    """Move the control's alias to the treatment and tag the treatment with the evidence."""
    name, version = experiment.prompt, experiment.treatment_version
    if experiment.alias == PRODUCTION:
        tags = registry.get(PromptRef(name, version=version)).tags
        promote(registry, name, version, blocked=blocked_from_tags(tags))
    else:
        registry.set_alias(name, experiment.alias, version)
    registry.set_tags(name, version, evidence_tags(experiment, evidence))


def evidence_tags(experiment: Experiment, evidence: Mapping[str, Any]) -> dict[str, str]:
    """``honed.experiment.*`` tags: the experiment, what it compared, and its numbers."""
    ci = evidence.get("ci") or []
    return score_tags({
        TAG_PREFIX: experiment.name, f"{TAG_PREFIX}.metric": evidence.get("metric"),
        f"{TAG_PREFIX}.control": f"{experiment.prompt}/{experiment.control_version}",
        f"{TAG_PREFIX}.mean_control": evidence.get("mean_control"),
        f"{TAG_PREFIX}.mean_treatment": evidence.get("mean_treatment"),
        f"{TAG_PREFIX}.diff": evidence.get("diff"),
        f"{TAG_PREFIX}.ci": ",".join(format(float(x), ".6g") for x in ci) or None,
        f"{TAG_PREFIX}.p_value": evidence.get("p_value"),
        f"{TAG_PREFIX}.n": f"{evidence.get('n_control')},{evidence.get('n_treatment')}",
        f"{TAG_PREFIX}.srm_p_value": evidence.get("srm_p_value")})


def _stop(es: ExperimentStore, experiment: Experiment, reason: str,
          now: float) -> Mapping[str, Any] | None:
    evidence = {"reason": reason, "last_result": experiment.result}
    return es.conclude(experiment.name, STOPPED, None, {
        "prompt": experiment.prompt, "kind": STOP, "alias": experiment.alias,
        "from_version": experiment.control_version, "to_version": experiment.control_version,
        "evidence": evidence}, now=now)


def stop_experiment(store: Any, name: str, *, reason: str = "stopped by hand",
                    now: float | None = None) -> Mapping[str, Any]:
    """Stop a running experiment: routing stops, the control's alias stays; returns the
    ``stop`` decision. ConfigError when it is not running."""
    es = experiment_store(store)
    experiment = load(es, name)
    decision = (_stop(es, experiment, reason, time.time() if now is None else now)
                if experiment.running else None)
    if decision is None:
        raise ConfigError(f"experiment {name!r} is not running (its status is "
                          f"{load(es, name).status})",
                          field="NAME", fix="see its outcome with `honed experiment status "
                                            f"{name}`")
    return decision


# undoing ----------------------------------------------------------------------------------------
def rollback_decision(store: Any, registry: PromptRegistry, prompt: str, *,
                      now: float | None = None, reason: str = "rolled back by hand",
                      evidence: Mapping[str, Any] | None = None) -> Mapping[str, Any]:
    """Undo the latest promotion recorded for ``prompt`` that is not undone yet: its alias
    moves back to the version it replaced, and a ``rollback`` decision records it. Refused
    (ConfigError) when there is none, or when the alias has moved since."""
    es = experiment_store(store)
    target = next((d for d in es.decisions(prompt=prompt, kind=PROMOTE)
                   if d["undone_at"] is None), None)
    if target is None:
        raise ConfigError(f"no promotion of prompt {prompt!r} to undo", field="NAME",
                          fix="to move an alias by hand use `honed registry rollback NAME` "
                              "or `honed registry promote NAME VERSION`")
    alias, back = target["alias"], int(target["from_version"])
    current = registry.aliases(prompt).get(alias)
    if current != target["to_version"]:
        raise ConfigError(f"{prompt}@{alias} is at version {current}, not version "
                          f"{target['to_version']} that decision {target['id']} set: it moved "
                          "since, so nothing is rolled back", field="NAME",
                          fix=f"move it by hand: honed registry promote {prompt} VERSION")
    if alias == PRODUCTION:
        promote(registry, prompt, back)
    else:
        registry.set_alias(prompt, alias, back)
    row = {"prompt": prompt, "kind": ROLLBACK, "alias": alias, "from_version": current,
           "to_version": back, "experiment": target["experiment"],
           "evidence": {**(evidence or {}), "undoes": target["id"], "reason": reason}}
    done = es.undo(int(target["id"]), row, now=now)
    if done is None:
        raise ConfigError(f"decision {target['id']} was undone meanwhile", field="NAME")
    registry.set_tags(prompt, int(target["to_version"]),
                      {f"{TAG_PREFIX}.rolled_back": str(done["id"])})
    return {**done, "undid": es.decision(int(target["id"]))}


def experiment_status(store: Any, name: str, *, now: float | None = None) -> dict[str, Any]:
    """An experiment with a fresh analysis when it runs (nothing is decided), else its last
    one, and the decisions taken on it."""
    es = experiment_store(store)
    experiment = load(es, name)
    analysis = (measure(es, experiment, now=now).to_dict() if experiment.running
                else experiment.result)
    return {"experiment": experiment.to_dict(), "analysis": analysis,
            "decisions": es.decisions(experiment=name)}
