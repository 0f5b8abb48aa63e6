"""The reliability suite's figures, gathered into one table (the README's "Reliability").

    python benchmarks/reliability.py [--out benchmarks/results/reliability.json]

Runs ``pytest tests/reliability`` with ``HONED_RELIABILITY_REPORT`` and ``HONED_FUZZ_REPORT``
set, then reads what each test recorded: fuzz cases per target, faults injected and survived,
kills survived, concurrent writers and rows lost, corruption cases, canary leaks. Exits 1 if the
suite failed.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def run_suite(folder: Path) -> tuple[int, float]:
    env = {**os.environ, "HONED_RELIABILITY_REPORT": str(folder / "figures"),
           "HONED_FUZZ_REPORT": str(folder / "fuzz.json")}
    started = time.perf_counter()
    code = subprocess.call([sys.executable, "-m", "pytest", "tests/reliability", "-q",
                            "-p", "no:cacheprovider"], cwd=ROOT, env=env)
    return code, time.perf_counter() - started


def load(folder: Path) -> dict[str, Any]:
    figures = {p.stem: json.loads(p.read_text())
               for p in sorted((folder / "figures").glob("*.json"))}
    fuzz = folder / "fuzz.json"
    figures["fuzz"] = json.loads(fuzz.read_text()) if fuzz.exists() else {}
    return figures


def rows(f: dict[str, Any]) -> list[tuple[str, str]]:
    """(check, figure) lines for the README; a missing report shows as 'not recorded'."""
    def get(name: str, *keys: str) -> Any:
        value: Any = f.get(name, {})
        for key in keys:
            value = value.get(key, {}) if isinstance(value, dict) else {}
        return value if value != {} else "not recorded"

    fuzz = f.get("fuzz", {})
    f20, f100 = f.get("faults-20", {}), f.get("faults-100", {})
    return [
        ("fuzzed inputs (task YAML / datasets / CLI args), exit 0 or 2, no traceback",
         " / ".join(str(fuzz.get(t, "-")) for t in ("task_yaml", "datasets", "cli_args"))),
        ("faults injected at 20% (429, 500, timeout, slow, malformed 200) / survived",
         f"{sum(f20.get('injected', {}).values())} / all: score {f20.get('score')} = "
         f"fault-free {f20.get('fault_free_score')}, errors {f20.get('errors')}"),
        ("faults at 100%: exit code, examples recorded as errors (none as a success)",
         f"{f100.get('exit_code')}, {f100.get('errors')} of {f100.get('examples')}"),
        ("kill -9 during optimize: kills landed / identical results after --resume",
         f"{get('kill_resume', 'kills_landed')} / {get('kill_resume', 'same_result')}"),
        ("real calls, killed + resumed vs uninterrupted (worst)",
         f"{get('kill_resume', 'max_calls_ratio')}x"),
        ("processes sharing one HONED_HOME / rows lost / 'database is locked'",
         f"{get('concurrent_home_cli', 'processes')} / "
         f"{get('concurrent_home_cli', 'rows_lost')} / "
         f"{get('concurrent_home_cli', 'locked_errors')}"),
        ("damaged state files (3 files x 3 kinds of damage): cases handled",
         f"{get('corrupt_state', 'cases')}"),
        ("canary API keys found in files and outputs searched",
         f"{get('canary', 'leaks')} in {get('canary', 'files_searched')} files"),
        ("model-server requests with a wrong or missing token that reached the model",
         f"{get('model_server_token', 'reached_model')} of "
         f"{get('model_server_token', 'refused')}"),
    ]


def markdown(figures: dict[str, Any], wall_s: float) -> str:
    lines = ["| check | figure |", "| --- | --- |"]
    lines += [f"| {check} | {figure} |" for check, figure in rows(figures)]
    lines.append(f"\n{platform.machine()}, {os.cpu_count()} cores, Python "
                 f"{platform.python_version()}; suite wall time {wall_s:.0f} s")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", type=Path, help="also write the figures as JSON here")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        code, wall_s = run_suite(Path(tmp))
        figures = load(Path(tmp))
    print(markdown(figures, wall_s))
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps({"suite_exit_code": code, "wall_s": wall_s,
                                        **figures}, indent=2) + "\n")
    return 0 if code == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
