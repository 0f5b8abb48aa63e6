"""The fault matrix: every kind of provider fault (429 with Retry-After, 500, timeout, slow
answer, malformed 200) injected at 20% gives the fault-free result, retried and counted; at 100%
the command fails clearly, with the counts, and nothing is recorded as a success.

Each test records its figures under ``$HONED_RELIABILITY_REPORT`` when that is set.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from honed.cli.app import main
from honed.providers.fake_server import FAULT_KINDS, FakeServer, Faults
from honed.testing import record_figures as _record

N = 200
LABELS = ("alpha", "beta", "gamma", "delta")


def _reply(messages: list[dict[str, Any]]) -> str:
    """A deterministic 'model': the label named by the last word of the input."""
    text = str(messages[-1].get("content", ""))
    return LABELS[int(text.split()[-1]) % len(LABELS)]


def _task(folder: Path, url: str, *, optimize: bool = False) -> Path:
    rows = [{"text": f"example {i}", "label": LABELS[(i * 7) % 5 % len(LABELS)]}
            for i in range(N)]
    (folder / "data.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows),
                                       encoding="utf-8")
    split = ("data:\n  train: data.jsonl\n  split: {val: 0.2, test: 0.2, seed: 1}\n"
             if optimize else
             "data:\n  train: data.jsonl\n  val: data.jsonl\n  test: data.jsonl\n")
    path = folder / "task.yaml"
    path.write_text(
        "name: faults\ntracking: none\n"
        f"model:\n  spec: openai:fake\n  base_url: {url}\n  concurrency: 16\n"
        "  timeout_s: 0.5\n"
        "prompt:\n  system: Name the label.\n  user: '{text}'\n"
        f"output:\n  choices: {list(LABELS)}\n"
        f"{split}evals:\n  - type: exact_match\n    expected: '{{label}}'\n",
        encoding="utf-8")
    return path


def _eval(task: Path, capsys: pytest.CaptureFixture[str], *extra: str) -> tuple[int, Any, str]:
    code = main(["eval", str(task), "--json", "--no-cache", *extra])
    out = capsys.readouterr()
    return code, json.loads(out.out) if out.out.strip() else None, out.err



def _faults(rate: float, kinds: tuple[str, ...] = FAULT_KINDS) -> Faults:
    return Faults(rate, kinds, seed=3, hang_s=1.0, slow_s=0.2)


def test_faults_at_20_percent_give_the_fault_free_result(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with FakeServer(_reply) as clean:
        code, expected, _ = _eval(_task(tmp_path, clean.url), capsys)
    assert code == 0 and expected["errors"] == 0
    with FakeServer(_reply, faults=_faults(0.2)) as faulty:
        code, got, err = _eval(_task(tmp_path, faulty.url), capsys)
        injected = faulty.injected
    assert code == 0, err
    assert set(injected) == set(FAULT_KINDS), injected  # every kind was exercised
    assert (got["score"], got["n"], got["errors"]) == (expected["score"], N, 0)
    assert got["ci95"] == expected["ci95"]
    retried = sum(n for kind, n in injected.items() if kind != "slow")
    assert got["retries"] == retried  # every fault but a slow answer cost one retry, counted
    assert set(got["retry_reasons"]) >= {"RateLimitError", "TransportError", "BadResponseError"}
    _record("faults-20", {"examples": N, "injected": injected, "retries": got["retries"],
                          "score": got["score"], "fault_free_score": expected["score"],
                          "errors": got["errors"]})


def test_faults_at_100_percent_fail_clearly_with_counts(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    kinds = ("429", "500", "malformed")
    with FakeServer(_reply, faults=_faults(1.0, kinds)) as server:
        code, got, err = _eval(_task(tmp_path, server.url), capsys, "--limit", "20")
        injected = server.injected
    assert code == 1
    assert "all 20 examples failed" in err and "retries" in err
    assert got["errors"] == got["n"] == 20 and got["score"] == 0.0 and got["pass_rate"] == 0.0
    assert got["failed_calls"] == 20 and got["retries"] == 20 * 4
    assert sum(injected.values()) == 20 * 5  # the first try and four retries, each refused
    _record("faults-100", {"examples": 20, "injected": injected, "errors": got["errors"],
                           "exit_code": code})


def test_an_optimization_under_faults_reaches_the_fault_free_result(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    def optimize(server: FakeServer, folder: Path) -> dict[str, Any]:
        folder.mkdir()
        task = _task(folder, server.url, optimize=True)
        code = main(["optimize", str(task), "--optimizer", "fewshot", "--max-calls", "700",
                     "--seed", "1", "--json", "--no-cache"])
        out = capsys.readouterr()
        assert code == 0, out.err
        return json.loads(out.out)

    with FakeServer(_reply) as clean:
        expected = optimize(clean, tmp_path / "clean")
    with FakeServer(_reply, faults=_faults(0.2)) as faulty:
        got = optimize(faulty, tmp_path / "faulty")
    for key in ("seed", "best", "test_diff"):
        assert got[key] == expected[key]
    assert got["retries"] > 0 and got["calls"] == got["requests"] + got["retries"]
    assert got["calls"] <= 700
