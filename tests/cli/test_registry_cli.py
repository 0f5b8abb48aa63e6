"""``honed registry ...`` and ``honed ui`` through the real entry point, on both backends
(in a subprocess, and in-process through ``honed.cli.app.main`` where MLflow's import would
otherwise be paid again by every call)."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from honed.cli.app import main
from honed.lifecycle.promote import register_candidate
from honed.lifecycle.registries import open_registry
from honed.types import Candidate

V1 = Candidate({"system": "Classify.", "user": "{text}"})
V2 = Candidate({"system": "Classify. Labels: positive, negative, neutral.", "user": "{text}"},
               ("ex-1",))
ROWS = {"ex-1": {"text": "great value, would buy again", "label": "positive"}}


def seed_registry(backend: str) -> Path:
    """$HONED_HOME with prompt 'sent' at versions 1 and 2 (alias candidate -> 2)."""
    home = Path(os.environ["HONED_HOME"])
    registry = open_registry(home, backend=backend)
    registry.register("sent", V1, tags={"honed.source": "seed"})
    register_candidate(registry, "sent", V2, {"val_score": 0.9}, demo_rows=ROWS)
    return home


def run_main(capsys, *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out = capsys.readouterr()
    return code, out.out, out.err


def main_json(capsys, *args: str) -> dict:
    code, out, err = run_main(capsys, *args, "--json")
    assert code == 0, err
    return json.loads(out)


@pytest.fixture
def local(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    seed_registry("local")
    return "local"


@pytest.fixture
def mlflow_backend(mlflow_template: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    home = Path(os.environ["HONED_HOME"])
    home.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(mlflow_template, home / "mlflow.db")
    seed_registry("mlflow")
    return "mlflow"


def run_json(cli, *args: str) -> dict:
    result = cli(*args, "--json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_list_show_diff_promote_rollback(cli, local: str) -> None:
    backend, b = local, ("--backend", local)
    listed = run_json(cli, "registry", "list", *b)
    assert listed["backend"] == backend
    assert listed["prompts"] == [{"name": "sent", "versions": 2, "latest": 2,
                                  "aliases": {"candidate": 2}}]
    shown = run_json(cli, "registry", "show", "sent", *b)
    assert shown["version"] == 2 and shown["prompt"]["demos"] == ["ex-1"]  # no production yet
    assert shown["tags"] == {"val_score": "0.9"}
    assert [v["version"] for v in shown["versions"]] == [1, 2]
    assert run_json(cli, "registry", "show", "sent", "1", *b)["prompt"]["system"] == "Classify."
    diff = cli("registry", "diff", "sent", "1", "2", *b)
    assert diff.returncode == 0, diff.stderr
    assert "-Classify.\n" in diff.stdout and "+ex-1" in diff.stdout
    assert run_json(cli, "registry", "promote", "sent", "1", *b)["changed"]
    promoted = run_json(cli, "registry", "promote", "sent", "2", *b)
    assert (promoted["version"], promoted["previous"]) == (2, 1)
    assert run_json(cli, "registry", "show", "sent@previous-production", *b)["version"] == 1
    assert run_json(cli, "registry", "show", "sent", *b)["version"] == 2  # production now
    table = cli("registry", "list", *b)
    assert table.returncode == 0 and "production -> 2" in table.stdout
    rolled = run_json(cli, "registry", "rollback", "sent", *b)
    assert (rolled["version"], rolled["previous"]) == (1, 2)
    text = cli("registry", "show", "sent", *b)
    assert text.returncode == 0 and "sent/1" in text.stdout and "production" in text.stdout


def test_errors_exit_2_with_a_message(cli, local: str) -> None:
    b = ("--backend", local)
    for args, message in [
        (("registry", "show", "ghost"), "no prompt named 'ghost'"),
        (("registry", "show", "sent", "9"), "has no version 9"),
        (("registry", "show", "sent@canary"), "has no alias 'canary'"),
        (("registry", "promote", "sent", "5"), "has no version 5"),
        (("registry", "rollback", "sent"), "previous-production"),
        (("registry", "diff", "sent", "1", "3"), "has no version 3"),
    ]:
        result = cli(*args, *b)
        assert result.returncode == 2, (args, result.stdout, result.stderr)
        assert message in result.stderr and "Traceback" not in result.stderr


def test_blocked_version_needs_force(cli, local: str) -> None:
    backend, home = local, Path(os.environ["HONED_HOME"])
    registry = open_registry(home, backend=backend)
    again = register_candidate(registry, "sent", V1, {"honed.blocked": ["no-regression"]})
    assert again.version == 1  # the same content: its version, now tagged blocked
    blocked = cli("registry", "promote", "sent", "1", "--backend", backend)
    assert blocked.returncode not in (0, 2) and "no-regression" in blocked.stderr
    assert "Traceback" not in blocked.stderr
    forced = run_json(cli, "registry", "promote", "sent", "1", "--force", "--backend", backend)
    assert forced["forced"] and forced["blocked"] == ["no-regression"]


def test_mlflow_backend_through_the_cli(capsys, mlflow_backend: str, monkeypatch) -> None:
    """The same commands on MLflow's prompt registry (in-process: MLflow is imported once)."""
    b = ("--backend", mlflow_backend)
    listed = main_json(capsys, "registry", "list", *b)
    assert listed["backend"] == "mlflow" and listed["prompts"][0]["aliases"] == {"candidate": 2}
    promoted = main_json(capsys, "registry", "promote", "sent", "2", *b)
    assert promoted["changed"] and promoted["previous"] is None
    code, out, _ = run_main(capsys, "registry", "show", "sent", *b)
    assert code == 0 and "sent/2" in out and "ex-1" in out and "would buy again" in out
    code, _, err = run_main(capsys, "registry", "rollback", "sent", *b)
    assert code == 2 and "previous-production" in err
    monkeypatch.setenv("HONED_REGISTRY", "mlflow")
    code, _, err = run_main(capsys, "registry", "diff", "ghost", "1", "2")
    assert code == 2 and "no prompt named 'ghost'" in err


def test_unknown_backend_exits_2(cli) -> None:
    result = cli("registry", "list", "--backend", "s3")
    assert result.returncode == 2 and "backend" in result.stderr
    setting = cli("registry", "list", env={"HONED_REGISTRY": "s3"})
    assert setting.returncode == 2 and "HONED_REGISTRY" in setting.stderr


# the backend is a setting; copying between backends ---------------------------------------------
def test_installing_mlflow_does_not_hide_the_local_registry(capsys, mlflow_backend: str,
                                                            monkeypatch) -> None:
    """MLflow is installed and its store holds 'sent': the default stays local, and says
    where to look."""
    monkeypatch.delenv("HONED_REGISTRY", raising=False)
    listed = main_json(capsys, "registry", "list")
    assert listed["backend"] == "local" and listed["prompts"] == []
    assert "--backend mlflow" in listed["note"]
    code, out, err = run_main(capsys, "registry", "list")
    assert code == 0 and "no prompts" in out and "registry copy --from mlflow" in err
    monkeypatch.setenv("HONED_REGISTRY", "mlflow")
    assert main_json(capsys, "registry", "list")["prompts"][0]["name"] == "sent"
    assert main_json(capsys, "registry", "list", "--backend", "local")["prompts"] == []


def test_copy_local_to_mlflow_and_back_is_idempotent(capsys, local: str, mlflow_template: Path,
                                                     monkeypatch) -> None:
    home = Path(os.environ["HONED_HOME"])
    shutil.copyfile(mlflow_template, home / "mlflow.db")
    assert main_json(capsys, "registry", "promote", "sent", "1")["changed"]
    copied = main_json(capsys, "registry", "copy", "--from", "local", "--to", "mlflow")
    assert copied["versions"] == {"sent": [1, 2]} and copied["changed"]
    assert copied["aliases"] == {"sent": {"candidate": 2, "production": 1}}
    again = main_json(capsys, "registry", "copy", "--from", "local", "--to", "mlflow", "sent")
    assert not again["changed"] and again["versions"] == {"sent": []}
    back = main_json(capsys, "registry", "copy", "--from", "mlflow", "--to", "local")
    assert not back["changed"]
    shown = main_json(capsys, "registry", "show", "sent@candidate", "--backend", "mlflow")
    assert shown["demo_rows"] == ROWS and shown["tags"] == {"val_score": "0.9"}
    code, out, _ = run_main(capsys, "registry", "copy", "--from", "local", "--to", "mlflow")
    assert code == 0 and "nothing to copy" in out
    code, _, err = run_main(capsys, "registry", "copy", "--from", "local", "--to", "local")
    assert code == 2 and "both local" in err
    code, _, err = run_main(capsys, "registry", "copy", "--from", "local", "--to", "mlflow",
                            "ghost")
    assert code == 2 and "no prompt named 'ghost'" in err


def test_show_prints_the_demos_text(capsys, local: str) -> None:
    code, out, err = run_main(capsys, "registry", "show", "sent", "2")
    assert code == 0, err
    assert "demos (1):" in out and "- ex-1" in out
    assert "text: great value, would buy again" in out and "label: positive" in out
    assert main_json(capsys, "registry", "show", "sent", "2")["demo_rows"] == ROWS
    diff = run_main(capsys, "registry", "diff", "sent", "1", "2")[1]
    assert "+  text: great value, would buy again" in diff


def test_empty_registry_lists_nothing(cli) -> None:
    assert run_json(cli, "registry", "list", "--backend", "local")["prompts"] == []
    assert "no prompts" in cli("registry", "list", "--backend", "local").stdout


def test_ui_prints_the_command_for_the_local_store(cli, monkeypatch) -> None:
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    home = Path(os.environ["HONED_HOME"]).absolute()
    result = cli("registry", "ui")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == (
        "LITELLM_LOCAL_MODEL_COST_MAP=True MLFLOW_DISABLE_TELEMETRY=true mlflow ui "
        f"--backend-store-uri sqlite:///{home}/mlflow.db --host 127.0.0.1 --port 5000")
    data = run_json(cli, "registry", "ui", "--port", "5050")
    assert data["command"].endswith("--port 5050") and data["url"] == "http://127.0.0.1:5050"
