"""``honed log`` (the production log) and ``honed harvest`` (feedback -> a dataset file).

``--since`` takes an ISO date or time (``2025-01-31``, ``2025-01-31T12:00``; local time unless
it names a zone) or a span back from now (``90s``, ``30m``, ``2h``, ``7d``, ``2w``).
"""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Annotated, Any

import typer

from honed.cli.keys_cmd import open_log
from honed.cli.options import JsonOpt
from honed.errors import ConfigError

SinceOpt = Annotated[str | None, typer.Option(
    "--since", help="ISO date/time, or a span back from now: 30m, 2h, 7d", show_default=False)]
_SPAN = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$")
_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
CSV_COLUMNS = ["id", "created", "prompt", "version", "alias", "arm", "user_id", "inputs",
               "output", "error", "latency_s", "input_tokens", "output_tokens", "cost_usd",
               "metadata", "feedback"]


def parse_since(text: str | None, now: float | None = None) -> float | None:
    """``--since`` as seconds since the epoch."""
    from datetime import datetime

    if text is None:
        return None
    now = time.time() if now is None else now
    span = _SPAN.match(text)
    if span:
        return now - float(span.group(1)) * _UNIT_S[span.group(2)]
    try:
        return datetime.fromisoformat(text.strip()).timestamp()
    except ValueError:
        raise ConfigError(f"cannot read --since {text!r}", field="--since",
                          fix="use an ISO date/time (2025-01-31, 2025-01-31T12:00) "
                              "or a span such as 30m, 2h, 7d") from None


def log_command(
    prompt: Annotated[str | None, typer.Option("--prompt", help="only this prompt")] = None,
    version: Annotated[int | None, typer.Option("--version", min=1,
                                                help="only this prompt version")] = None,
    since: SinceOpt = None,
    with_feedback: Annotated[bool, typer.Option("--with-feedback",
                                                help="only requests with feedback")] = False,
    limit: Annotated[int | None, typer.Option("--limit", min=1, help="at most N rows")] = None,
    json_output: JsonOpt = False,
    csv_output: Annotated[bool, typer.Option("--csv", help="print CSV")] = False,
) -> None:
    """Show served requests (newest first) with their feedback."""
    from honed.cli import render
    from honed.cli.render import serve as show

    if json_output and csv_output:
        raise ConfigError("choose one of --json and --csv", field="--csv")
    with open_log() as store:
        rows = store.requests(prompt=prompt, version=version, since=parse_since(since),
                              with_feedback=with_feedback, limit=limit)
    if json_output:
        render.json_out({"requests": rows})
    elif csv_output:
        show.log_csv(rows, CSV_COLUMNS)
    else:
        show.log_table(rows)


def held_out_users(output: Path) -> list[Path]:
    """Task files (``*.yaml`` in the output's folder and its parent) whose ``data.test`` is
    ``output``: writing there would leak production data into the held-out split."""
    from honed.task.config import read_yaml

    target = output.resolve()
    folders = dict.fromkeys([target.parent, target.parent.parent])
    users = []
    for folder in folders:
        for task_file in sorted(folder.glob("*.yaml")) + sorted(folder.glob("*.yml")):
            try:
                doc = read_yaml(task_file)
            except ConfigError:
                continue
            data = doc.get("data") if isinstance(doc, dict) else None
            test = data.get("test") if isinstance(data, dict) else None
            if isinstance(test, str) and (task_file.parent / test).resolve() == target:
                users.append(task_file)
    return users


def _check_output(output: Path, force: bool) -> None:
    users = held_out_users(output)
    if users:
        raise ConfigError(f"{output} is the test split of {', '.join(map(str, users))}",
                          file=str(output), field="-o",
                          fix="harvest into a training file (e.g. data/harvested.jsonl) and "
                              "keep the test split held out")
    if output.exists() and not force:
        raise ConfigError(f"{output} already exists", file=str(output), field="-o",
                          fix="choose a new file, or pass --force to replace it")


def _write_jsonl(path: Path, rows: list[dict[str, Any]]) -> None:
    import json
    import os

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows),
                   encoding="utf-8")
    os.replace(tmp, path)


def harvest_command(
    name: Annotated[str, typer.Argument(help="prompt name", show_default=False)],
    output: Annotated[Path, typer.Option("--output", "-o", help="the JSONL file to write",
                                         show_default=False)],
    since: SinceOpt = None,
    min_feedback: Annotated[float | None, typer.Option(
        "--min-feedback", help="a score at or above this keeps the model's output as the "
                               "target (without it, scores alone harvest nothing)")] = None,
    label_field: Annotated[str, typer.Option("--label-field",
                                             help="the field that holds the target")] = "label",
    force: Annotated[bool, typer.Option("--force", help="replace an existing file")] = False,
) -> None:
    """Write a dataset from production feedback: corrections and labels become targets."""
    from honed.cli.render import serve as show
    from honed.store import harvest_rows

    _check_output(output, force)
    with open_log() as store:
        logged = store.requests(prompt=name, since=parse_since(since), with_feedback=True)
    result = harvest_rows(logged, min_score=min_feedback, target_field=label_field)
    _write_jsonl(output, result.rows)
    hint = None
    if result.no_target and min_feedback is None:
        hint = (f"note: {result.no_target} requests had feedback without a correction or "
                "label; pass --min-feedback SCORE to keep well-rated outputs")
    show.harvested({"rows": len(result.rows), "path": str(output), "requests": result.requests,
                    "duplicates": result.duplicates, "no_target": result.no_target,
                    "hint": hint})
