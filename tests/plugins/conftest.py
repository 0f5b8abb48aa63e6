"""Plugin distributions made at test time: put on ``sys.path`` in this process, or built as a
wheel that pip installs into a folder a ``honed`` subprocess gets on its ``PYTHONPATH``."""

from __future__ import annotations

import base64
import hashlib
import os
import subprocess
import sys
import zipfile
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

import pytest

from honed.plugins import plugin_entries

EntryPoints = Mapping[str, Mapping[str, str]]  # group -> name -> "module:attr"


def entry_points_txt(entry_points: EntryPoints) -> str:
    return "".join(f"[{group}]\n" + "".join(f"{name} = {target}\n"
                                            for name, target in names.items()) + "\n"
                   for group, names in entry_points.items())


def dist_info(name: str, version: str) -> str:
    return f"{name.replace('-', '_')}-{version}.dist-info"


def distribution(name: str, version: str, files: Mapping[str, str],
                 entry_points: EntryPoints) -> dict[str, str]:
    """Every file of a distribution: its modules plus the metadata pip and importlib read."""
    info = dist_info(name, version)
    return {**files,
            f"{info}/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n",
            f"{info}/WHEEL": "Wheel-Version: 1.0\nGenerator: tests\nRoot-Is-Purelib: true\n"
                             "Tag: py3-none-any\n",
            f"{info}/entry_points.txt": entry_points_txt(entry_points)}


def _record_line(path: str, data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{path},sha256={digest},{len(data)}\n"


def build_wheel(out: Path, name: str, version: str, files: Mapping[str, str],
                entry_points: EntryPoints) -> Path:
    """A pure-Python wheel written by hand: the files, METADATA, WHEEL, entry points, RECORD."""
    contents = {path: text.encode() for path, text in
                distribution(name, version, files, entry_points).items()}
    record = f"{dist_info(name, version)}/RECORD"
    wheel = out / f"{name.replace('-', '_')}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        for path, data in contents.items():
            archive.writestr(path, data)
        lines = "".join(_record_line(p, d) for p, d in contents.items()) + f"{record},,\n"
        archive.writestr(record, lines)
    return wheel


def pip_install(wheel: Path, target: Path) -> Path:
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "--no-index",
                    "--no-compile", "--disable-pip-version-check", "--quiet",
                    "--target", str(target), str(wheel)], check=True, capture_output=True,
                   text=True, timeout=120)
    return target


def honed(*args: str, site: Path, cwd: Path | None = None,
          timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """The real CLI (``python -m honed``) with ``site`` on its ``PYTHONPATH``."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        p for p in (str(site), os.environ.get("PYTHONPATH", "")) if p)}
    return subprocess.run([sys.executable, "-m", "honed", *args], capture_output=True,
                          text=True, cwd=cwd, env=env, timeout=timeout)


@pytest.fixture
def on_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., Path]]:
    """Put a distribution on this process's ``sys.path`` and read the entry points again."""
    modules: set[str] = set()

    def make(name: str, files: Mapping[str, str], entry_points: EntryPoints,
             version: str = "0.1") -> Path:
        root = tmp_path / f"site-{name}"
        for rel, text in distribution(name, version, files, entry_points).items():
            (root / rel).parent.mkdir(parents=True, exist_ok=True)
            (root / rel).write_text(text, encoding="utf-8")
        modules.update(Path(rel).parts[0].removesuffix(".py") for rel in files)
        monkeypatch.syspath_prepend(str(root))
        plugin_entries.cache_clear()
        return root

    yield make
    plugin_entries.cache_clear()
    for loaded in list(sys.modules):
        if loaded.partition(".")[0] in modules:
            del sys.modules[loaded]
