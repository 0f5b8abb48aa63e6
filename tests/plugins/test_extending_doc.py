"""docs/extending.md is true: its code blocks become a package that pip installs, and the
commands at its end run against that package with the results the page describes."""

from __future__ import annotations

import json
import re
import shlex
import tomllib
from pathlib import Path
from typing import Any

import pytest

from .conftest import build_wheel, honed, pip_install

DOC = Path(__file__).resolve().parents[2] / "docs" / "extending.md"
FENCE = re.compile(r"^```(\w+)\n(.*?)^```$", re.S | re.M)


def blocks(kind: str) -> list[str]:
    return [body for lang, body in FENCE.findall(DOC.read_text(encoding="utf-8"))
            if lang == kind]


def named(kind: str) -> dict[str, str]:
    """The blocks of ``kind`` whose first line is ``# FILE``, by file."""
    found = {}
    for body in blocks(kind):
        first = body.partition("\n")[0]
        if first.startswith("# "):
            found[first[2:].strip()] = body
    return found


def project() -> dict[str, Any]:
    return tomllib.loads(named("toml")["pyproject.toml"])["project"]


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("doc")
    files = {"honed_shout/__init__.py": "", **named("python")}
    meta = project()
    wheel = build_wheel(root, meta["name"], meta["version"], files, meta["entry-points"])
    return pip_install(wheel, root / "site")


def test_the_page_has_one_of_each() -> None:
    assert set(named("python")) == {"honed_shout/evals.py", "honed_shout/provider.py",
                                    "honed_shout/optimizer.py"}
    assert set(project()["entry-points"]) == {"honed.evals", "honed.providers",
                                              "honed.optimizers"}
    for path, code in named("python").items():
        compile(code, path, "exec")


def commands() -> list[list[str]]:
    (console,) = blocks("console")
    return [shlex.split(line.removeprefix("$ "), comments=True)
            for line in console.splitlines() if line.startswith("$ honed ")]


def test_the_commands_run_as_described(site: Path, tmp_path: Path) -> None:
    (tmp_path / "task.yaml").write_text(named("yaml")["task.yaml"], encoding="utf-8")
    out = []
    for argv in commands():
        result = honed(*argv[1:], "--json", site=site, cwd=tmp_path)
        assert result.returncode == 0, (argv, result.stderr)
        out.append(json.loads(result.stdout))
    listed, evaluated, optimized, with_param = out
    row = next(r for r in listed["optimizers"] if r["name"] == "append-line")
    assert row["plugin"] == "honed-shout" and row["params"][0]["name"] == "lines"
    assert evaluated["score"] == 0.0 and evaluated["n"] == 3
    assert optimized["best"]["val"]["score"] == 1.0 and optimized["seed"]["val"]["score"] == 0
    assert optimized["best"]["prompt"]["system"].endswith("\nAnswer in capital letters.")
    assert optimized["best"]["test"]["score"] == 1.0
    assert with_param["best"]["prompt"]["system"].endswith("\nUSE CAPITALS ONLY")
