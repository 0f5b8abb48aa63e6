"""Starter tasks: a commented ``task.yaml`` and a 12-row ``data.jsonl`` per kind of task, shipped
in ``honed/templates/KIND/``; each runs as it is on the embedded model."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from honed.errors import ConfigError

KINDS = ("classification", "extraction", "qa")
FILES = ("task.yaml", "data.jsonl")


def scaffold(kind: str, folder: Path) -> list[Path]:
    """Write the ``kind`` starter into ``folder``; refuse to overwrite anything."""
    if kind not in KINDS:
        raise ConfigError(f"unknown kind of task {kind!r}", field="KIND",
                          fix=f"use one of: {', '.join(KINDS)}")
    if folder.exists() and not folder.is_dir():
        raise ConfigError("exists and is not a folder", file=str(folder),
                          fix="name a new or existing folder")
    clashes = [str(folder / name) for name in FILES if (folder / name).exists()]
    if clashes:
        raise ConfigError(f"would overwrite {', '.join(clashes)}", file=str(folder),
                          fix="choose another folder, or move those files aside")
    source = resources.files("honed") / "templates" / kind
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name in FILES:
        target = folder / name
        target.write_text((source / name).read_text(encoding="utf-8"), encoding="utf-8")
        written.append(target)
    return written
