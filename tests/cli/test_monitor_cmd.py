"""``honed monitor status|check|clear`` through the real entry point, over the home's SQLite
production log."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tests.monitor.conftest import fill

from honed.cli.app import main
from honed.engine.session import honed_home
from honed.store import open_store


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.fixture
def drifted() -> None:
    with open_store(home=honed_home()) as store:
        fill(store, 400, p_right=0.85, seed=2, start=1e9)
        fill(store, 600, p_right=0.55, seed=3, start=1e9 + 2_000, prefix="late")


def test_check_records_an_alarm_that_status_shows_and_clear_acknowledges(
        capsys: pytest.CaptureFixture[str], drifted: None) -> None:
    small = ("--days", "100000", "--reference-n", "200", "--window", "200")
    code, out, _ = run(capsys, "monitor", "status", "--json", *small)
    assert code == 0 and json.loads(out)[0]["alarms"] == []  # status records nothing
    code, out, _ = run(capsys, "monitor", "check", "support", *small, "--json")
    (report,) = json.loads(out)
    assert code == 0 and [a["kind"] for a in report["new_alarms"]] == ["quality"]
    code, out, _ = run(capsys, "monitor", "status", "support", *small)
    assert code == 0 and "ALARM #1 v1 quality" in out and "CUSUM" in out
    code, out, _ = run(capsys, "monitor", "clear", "support")
    assert code == 0 and "cleared 1 alarm" in out
    code, out, _ = run(capsys, "monitor", "status", "support", *small)
    assert "no open alarm" in out


def test_bad_settings_exit_2_naming_the_flag(capsys: pytest.CaptureFixture[str],
                                            drifted: None, tmp_path: Path) -> None:
    code, _, err = run(capsys, "monitor", "check", "support", "--sample", "1.5")
    assert code == 2 and "--sample" in err
    code, _, err = run(capsys, "monitor", "check", "support", "--task",
                       str(tmp_path / "missing.yaml"))
    assert code == 2 and "missing.yaml" in err


def test_an_empty_log_says_so(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "monitor", "status")
    assert code == 0 and "no prompt" in out
