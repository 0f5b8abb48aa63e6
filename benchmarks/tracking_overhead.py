"""What MLflow tracking costs a whole command: tracking on and off, side by side.

    python benchmarks/tracking_overhead.py [--runs 5] [--examples 400] [--quickstart]

Every number is the wall clock of the real ``honed`` command in a subprocess (start-up, imports,
work, exit), the median of ``--runs`` runs after one warm-up run:

- ``honed --help``;
- ``honed eval`` of a task on the fake model, a cached rerun of ``--examples`` examples, with
  ``tracking: none`` and with ``tracking: auto`` (MLflow installed);
- ``honed registry list`` on the default registry and on MLflow's (``--backend mlflow``);
- with ``--quickstart``, ``honed eval examples/quickstart/task.yaml`` (the embedded model).

MLflow logging runs after the command in a background process; the table also shows how long
that took to land in MLflow and exit (``flushed after``), and each tracked run waits for it
before the next one starts, so runs do not compete for the CPU.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from importlib import metadata
from pathlib import Path

try:
    import fcntl
except ImportError:  # no advisory locks: wait for the spool only
    fcntl = None  # type: ignore[assignment]

HONED = str(Path(sys.executable).with_name("honed"))
ROOT = Path(__file__).resolve().parent.parent
OFFLINE = {"MLFLOW_DISABLE_TELEMETRY": "true", "LITELLM_LOCAL_MODEL_COST_MAP": "True",
           "DO_NOT_TRACK": "true"}


def write_task(folder: Path, n: int, tracking: str) -> Path:
    rows = "".join(json.dumps({"text": f"example {i}", "label": f"example {i}"}) + "\n"
                   for i in range(n))
    (folder / "data.jsonl").write_text(rows, encoding="utf-8")
    task = folder / f"task-{tracking}.yaml"
    task.write_text(
        f"name: overhead\nmodel: fake\ntracking: {tracking}\n"
        "prompt:\n  system: Repeat the text.\n  user: '{text}'\n"
        "data:\n  train: data.jsonl\n  val: data.jsonl\n  test: data.jsonl\n"
        "evals:\n  - type: exact_match\n    expected: '{label}'\n", encoding="utf-8")
    return task


def spool_left(home: Path) -> int:
    folder = home / "spool"
    return len(list(folder.glob("*.json"))) if folder.is_dir() else 0


def flusher_busy(home: Path) -> bool:
    """Is the background flusher still running (it holds spool/.flusher.lock until it exits)?"""
    lock = home / "spool" / ".flusher.lock"
    if fcntl is None or not lock.exists():
        return False
    with open(lock, "a+b") as handle:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return True
    return False


def wait_flushed(home: Path, timeout: float = 180.0) -> float:
    """Seconds until the background MLflow logging has emptied the spool and exited."""
    start = time.perf_counter()
    while (spool_left(home) or flusher_busy(home)) and time.perf_counter() - start < timeout:
        time.sleep(0.05)
    return time.perf_counter() - start


def timed(argv: Sequence[str], env: dict[str, str], cwd: Path) -> float:
    start = time.perf_counter()
    result = subprocess.run(argv, env=env, cwd=cwd, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    elapsed = time.perf_counter() - start
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed ({result.returncode}):\n{result.stderr}")
    return elapsed


def measure(argv: Sequence[str], env: dict[str, str], cwd: Path, runs: int,
            after: Callable[[], float] | None = None) -> tuple[list[float], list[float]]:
    timed(argv, env, cwd)  # warm-up: fills the response cache, the OS file cache
    flushes = [after()] if after else []
    times = []
    for _ in range(runs):
        times.append(timed(argv, env, cwd))
        if after:
            flushes.append(after())
    return times, flushes


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        mlflow = metadata.version("mlflow")
    except metadata.PackageNotFoundError:
        mlflow = "not installed"
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return (f"{platform.system()} {platform.release()}, {cpu}, {os.cpu_count()} cores, "
            f"Python {platform.python_version()}, MLflow {mlflow}, load {load:.2f}")


def row(label: str, tracking: str, times: list[float], flushes: list[float]) -> dict[str, object]:
    return {"command": label, "tracking": tracking, "n": len(times),
            "median_s": statistics.median(times), "min_s": min(times), "max_s": max(times),
            "flushed_after_s": statistics.median(flushes) if flushes else None}


def table(rows: list[dict[str, object]]) -> str:
    lines = ["| command | tracking | n | median s | min s | max s | flushed after s |",
             "| --- | --- | ---: | ---: | ---: | ---: | ---: |"]
    for r in rows:
        flushed = r["flushed_after_s"]
        lines.append(f"| {r['command']} | {r['tracking']} | {r['n']} | {r['median_s']:.2f} | "
                     f"{r['min_s']:.2f} | {r['max_s']:.2f} | "
                     f"{'-' if flushed is None else format(flushed, '.2f')} |")
    return "\n".join(lines)


def ratio(rows: list[dict[str, object]], command: str, on: str, off: str) -> str:
    by = {(r["command"], r["tracking"]): float(r["median_s"]) for r in rows}  # type: ignore[arg-type]
    if (command, on) not in by or (command, off) not in by:
        return ""
    return f"{command}: {on} / {off} = {by[(command, on)] / by[(command, off)]:.2f}x"


def run(args: argparse.Namespace) -> list[dict[str, object]]:
    folder = Path(tempfile.mkdtemp(prefix="honed-overhead-"))
    home = folder / "home"
    env = {**os.environ, **OFFLINE, "HONED_HOME": str(home)}
    env.pop("MLFLOW_TRACKING_URI", None)
    env.pop("HONED_REGISTRY", None)
    subprocess.run([sys.executable, "-c", "import sys; from pathlib import Path; "
                    "from honed.tracking.mlflow import init_store; "
                    "init_store(Path(sys.argv[1]))", str(home / "mlflow.db")],
                   env=env, check=True)  # a fresh store costs seconds once; not measured
    n, rows = args.runs, []
    try:
        rows.append(row("honed --help", "-", *measure([HONED, "--help"], env, folder, n)))
        for tracking in ("none", "auto"):
            task = write_task(folder, args.examples, tracking)
            after = (lambda: wait_flushed(home)) if tracking != "none" else None
            times = measure([HONED, "eval", str(task), "--json"], env, folder, n, after)
            rows.append(row(f"eval {args.examples} cached", tracking, *times))
        rows.append(row("registry list", "default", *measure(
            [HONED, "registry", "list"], env, folder, n)))
        rows.append(row("registry list", "mlflow", *measure(
            [HONED, "registry", "list", "--backend", "mlflow"], env, folder, n)))
        if args.quickstart:
            rows += quickstart(folder, env, n, home)
    finally:
        if not args.keep:
            shutil.rmtree(folder, ignore_errors=True)
    return rows


def quickstart(folder: Path, env: dict[str, str], n: int, home: Path) -> list[dict[str, object]]:
    source = ROOT / "examples" / "quickstart"
    out = []
    for tracking in ("none", "auto"):
        copy = folder / f"quickstart-{tracking}"
        shutil.copytree(source, copy, dirs_exist_ok=True)
        task = copy / "task.yaml"
        text = task.read_text(encoding="utf-8")
        task.write_text(text.replace("model: local", f"model: local\ntracking: {tracking}", 1),
                        encoding="utf-8")
        after = (lambda: wait_flushed(home)) if tracking != "none" else None
        out.append(row("eval quickstart", tracking,
                       *measure([HONED, "eval", str(task), "--json"], env, copy, n, after)))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--examples", type=int, default=400)
    parser.add_argument("--quickstart", action="store_true",
                        help="also the Quickstart on the embedded model")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    parser.add_argument("--json", action="store_true", help="rows as JSON")
    args = parser.parse_args()
    rows = run(args)
    if args.json:
        print(json.dumps({"machine": machine(), "rows": rows}, indent=2))
        return
    print(f"machine: {machine()}\nruns: {args.runs} (median; after one warm-up run)\n")
    print(table(rows))
    for command in (f"eval {args.examples} cached", "eval quickstart"):
        line = ratio(rows, command, "auto", "none")
        if line:
            print(line)
    line = ratio(rows, "registry list", "mlflow", "default")
    if line:
        print(line)


if __name__ == "__main__":
    main()
