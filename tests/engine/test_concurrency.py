"""``--concurrency`` reaches the provider's connection pool: the flag, the YAML setting and the
number of requests the endpoint sees in flight agree."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from honed.cli.app import main
from honed.providers.fake_server import FakeServer


def _task(folder: Path, url: str, concurrency: int) -> Path:
    rows = "".join(json.dumps({"text": f"row {i}", "label": f"row {i}"}) + "\n"
                   for i in range(96))
    (folder / "data.jsonl").write_text(rows, encoding="utf-8")
    path = folder / "task.yaml"
    path.write_text(
        "name: pool\ntracking: none\n"
        f"model:\n  spec: openai:fake\n  base_url: {url}\n  concurrency: {concurrency}\n"
        "prompt:\n  user: '{text}'\n"
        "data:\n  train: data.jsonl\n  val: data.jsonl\n  test: data.jsonl\n"
        "evals:\n  - type: exact_match\n", encoding="utf-8")
    return path


@pytest.mark.parametrize(("yaml_value", "flag", "expected"),
                         [(4, 24, 24), (24, None, 24), (24, 4, 4)])
def test_peak_in_flight_follows_the_flag_then_the_yaml(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], yaml_value: int, flag: int | None,
        expected: int) -> None:
    with FakeServer(latency_s=0.05) as server:
        args = ["eval", str(_task(tmp_path, server.url, yaml_value)), "--json", "--no-cache"]
        code = main(args + (["--concurrency", str(flag)] if flag else []))
        peak = server.peak_in_flight
    data = json.loads(capsys.readouterr().out)
    assert code == 0 and data["errors"] == 0 and data["score"] == 1.0
    assert peak == expected
