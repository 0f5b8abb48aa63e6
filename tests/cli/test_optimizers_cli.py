"""``honed optimizers`` and ``honed schema`` (with ``--optimizers``) through the real CLI."""

from __future__ import annotations

import json


def test_optimizers_table_shows_names_params_and_defaults(cli) -> None:
    result = cli("optimizers", env={"COLUMNS": "200"})
    assert result.returncode == 0, result.stderr
    for text in ("mutate", "bayes", "dspy:gepa", "n_trials", "full_eval_every", "beam_width",
                 "needs a reflection model", "--param KEY=VALUE"):
        assert text in result.stdout, text


def test_optimizers_json(cli) -> None:
    result = cli("optimizers", "--json")
    assert result.returncode == 0, result.stderr
    rows = {row["name"]: row for row in json.loads(result.stdout)["optimizers"]}
    assert {"auto", "mutate", "fewshot", "bayes", "reflective", "pareto"} <= set(rows)
    beam = rows["mutate"]["params"][0]
    assert (beam["name"], beam["default"], beam["type"]) == ("beam_width", 2, "int")


def test_schema_has_the_optimizer_field_and_the_optimizers_params(cli) -> None:
    task = json.loads(cli("schema").stdout)
    assert "optimizer" in task["properties"] and task["title"] == "Task"
    result = cli("schema", "--optimizers")
    assert result.returncode == 0, result.stderr
    schemas = json.loads(result.stdout)["optimizers"]
    assert schemas["bayes"]["properties"]["n_trials"]["anyOf"][0]["minimum"] == 1
    assert "--optimizers" in cli("schema", "--help").stdout
