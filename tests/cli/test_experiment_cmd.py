"""``honed experiment start|status|stop|list|check`` and ``honed rollback``, in-process through
``main`` (the real entry point), over the home's SQLite log and local registry."""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from honed.cli.app import main
from honed.engine.session import honed_home
from honed.experiments import assign, unit_of
from honed.lifecycle.registries import open_registry
from honed.lifecycle.registry import PRODUCTION, PromptRegistry
from honed.store import open_store
from honed.store.experiments import ExperimentStore
from honed.types import Candidate

START = ("experiment", "start", "exp", "--control", "sent@production", "--treatment",
         "sent@candidate", "--metric", "feedback", "--split", "0.5")


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.fixture
def registry() -> Iterator[PromptRegistry]:
    reg = open_registry(honed_home(), backend="local")
    reg.register("sent", Candidate({"system": "Classify.", "user": "v1 {text}"}))
    reg.register("sent", Candidate({"system": "Classify.", "user": "v2 {text}"}))
    reg.set_alias("sent", PRODUCTION, 1)
    reg.set_alias("sent", "candidate", 2)
    yield reg
    reg.close()  # type: ignore[attr-defined]


def log_traffic(name: str, users: int, p_control: float, p_treatment: float,
                seed: int = 0) -> None:
    """Requests routed as the server routes them, each with a 0/1 feedback score."""
    rng = random.Random(seed)
    with open_store(home=honed_home()) as store:
        exp = ExperimentStore.of(store).get(name)
        rows = []
        for i in range(users):
            user = f"u{seed}-{i}"
            arm = assign(exp["salt"], unit_of(user, ""), exp["split"])
            rows.append({"id": f"r{seed}-{i}", "prompt": "sent", "inputs": {"text": str(i)},
                         "version": 1 if arm == "control" else 2, "output": "positive",
                         "user_id": user, "arm": arm, "experiment": name})
        store.log_requests(rows)
        for row in rows:
            p = p_control if row["arm"] == "control" else p_treatment
            store.add_feedback(row["id"], score=float(rng.random() < p))


def test_start_status_list_stop(capsys: pytest.CaptureFixture[str],
                                registry: PromptRegistry) -> None:
    code, out, err = run(capsys, *START, "--guardrail", "latency_p95<2s", "--guardrail",
                         "error_rate<1%", "--max-requests", "1000", "--max-days", "7")
    assert code == 0, err
    assert "started experiment exp" in out and "latency_p95<2s" in out
    assert "metric feedback per user" in out  # the default unit of observation
    code, out, _ = run(capsys, "experiment", "status", "exp", "--json")
    data = json.loads(out)
    assert code == 0 and data["experiment"]["status"] == "running"
    assert data["experiment"]["unit"] == data["analysis"]["unit"] == "user"
    assert data["experiment"]["guardrail_text"] == ["latency_p95<2s", "error_rate<0.01"]
    assert data["analysis"]["verdict"]["outcome"] == "continue"
    assert data["analysis"]["srm"]["alarm"] is False
    code, out, _ = run(capsys, "experiment", "status", "exp")
    assert code == 0 and "sample ratio" in out and "guardrail error_rate<0.01: pending" in out
    code, out, _ = run(capsys, "experiment", "list", "--json")
    assert [e["name"] for e in json.loads(out)["experiments"]] == ["exp"]
    code, out, _ = run(capsys, "experiment", "list")
    assert code == 0 and "exp" in out and "running" in out
    code, out, _ = run(capsys, "experiment", "stop", "exp")
    assert code == 0 and "stopped experiment exp" in out and "stays at version 1" in out
    code, out, _ = run(capsys, "experiment", "status", "exp")
    assert "stopped" in out and "decision 1" in out and "stop sent@production 1 -> 1" in out


@pytest.mark.parametrize(("extra", "says"), [
    (("--guardrail", "latency<2s"), "--guardrail 'latency<2s'"),
    (("--guardrail", "error_rate<lots"), "--guardrail 'error_rate<lots'"),
    (("--split", "0"), "--split"),
    (("--metric", "clicks"), "unknown metric 'clicks'"),
    (("--metric", "eval:acc"), "--task"),
    (("--treatment", "sent@nope"), "no alias 'nope'"),
    (("--max-requests", "0"), "--max-requests"),
    (("--unit", "session"), "unknown unit 'session'"),
])
def test_bad_input_exits_2_naming_it(capsys: pytest.CaptureFixture[str],
                                     registry: PromptRegistry, extra: tuple[str, ...],
                                     says: str) -> None:
    code, out, err = run(capsys, *START, *extra)
    assert code == 2 and says in err and "Traceback" not in err + out
    code, out, _ = run(capsys, "experiment", "list")
    assert "no experiments yet" in out


def test_unknown_names_exit_2(capsys: pytest.CaptureFixture[str],
                              registry: PromptRegistry) -> None:
    for args in (("experiment", "status", "nope"), ("experiment", "stop", "nope"),
                 ("experiment", "check", "nope"), ("rollback", "sent")):
        code, _, err = run(capsys, *args)
        assert code == 2, args
        assert "nope" in err or "no promotion of prompt 'sent'" in err


def test_check_promotes_a_winner_and_rollback_undoes_it(capsys: pytest.CaptureFixture[str],
                                                        registry: PromptRegistry) -> None:
    assert run(capsys, *START)[0] == 0
    code, out, _ = run(capsys, "experiment", "check")
    assert code == 0 and "exp: running" in out
    log_traffic("exp", 400, 0.2, 0.9)
    code, out, err = run(capsys, "experiment", "check", "--json")
    assert code == 0, err
    [report] = json.loads(out)["checked"]
    assert report["experiment"]["status"] == "won"
    assert report["decision"]["kind"] == "promote" and report["decision"]["to_version"] == 2
    assert registry.aliases("sent")[PRODUCTION] == 2
    code, out, _ = run(capsys, "experiment", "check")
    assert code == 0 and "no running experiments" in out
    code, out, _ = run(capsys, "experiment", "status", "exp")
    assert "won" in out and "promote sent@production 1 -> 2" in out
    code, out, err = run(capsys, "rollback", "sent")
    assert code == 0, err
    assert "rolled back sent@production: version 2 -> 1" in out and "experiment exp" in out
    assert registry.aliases("sent")[PRODUCTION] == 1
    code, _, err = run(capsys, "rollback", "sent")
    assert code == 2 and "no promotion of prompt 'sent' to undo" in err


def test_check_exits_1_when_an_experiment_cannot_be_measured(
        capsys: pytest.CaptureFixture[str], registry: PromptRegistry,
        make_task: Callable[..., Path]) -> None:
    task = make_task()
    code, _, err = run(capsys, *START, "--metric", "eval:exact_match", "--task", str(task))
    assert code == 0, err
    task.unlink()
    code, _, err = run(capsys, "experiment", "check")
    assert code == 1 and "exp: could not be checked" in err and "task.yaml" in err
