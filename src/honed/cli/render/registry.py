"""Terminal output of ``honed registry ...`` (plain dicts and strings in)."""

from __future__ import annotations

from typing import Any

import typer


def _console() -> Any:
    from rich.console import Console

    return Console(highlight=False, soft_wrap=True)


def _aliases_text(aliases: dict[str, int]) -> str:
    return ", ".join(f"{a} -> {v}" for a, v in sorted(aliases.items())) or "-"


def note(text: str) -> None:
    """A hint beside the output (stderr, so stdout stays the answer)."""
    typer.echo(text, err=True)


def prompts_table(data: dict[str, Any]) -> None:
    """``registry list``: one row per prompt with its latest version and aliases."""
    from rich.table import Table

    console = _console()
    if not data["prompts"]:
        console.print(f"no prompts registered yet (backend: {data['backend']})", markup=False)
        return
    table = Table("name", "versions", "latest", "aliases",
                  title=f"prompt registry ({data['backend']})")
    for row in data["prompts"]:
        table.add_row(row["name"], str(row["versions"]), str(row["latest"]),
                      _aliases_text(row["aliases"]))
    console.print(table)


def version(data: dict[str, Any]) -> None:
    """``registry show``: the prompt's parts, demos, tags and the version history."""
    from rich.table import Table
    from rich.text import Text

    console = _console()
    aliases = f" ({', '.join(data['aliases'])})" if data["aliases"] else ""
    console.print(Text(f"{data['name']}/{data['version']}{aliases} · {data['candidate_id']}",
                       style="bold"))
    prompt = data["prompt"]
    for part in ("system", "user"):
        console.print(Text(f"{part}:", style="bold"), Text(prompt[part]))
    for part, text in (prompt.get("components") or {}).items():
        console.print(Text(f"{part}:", style="bold"), Text(text))
    _demos(console, prompt["demos"], data.get("demo_rows") or {})
    for key, value in sorted(data["tags"].items()):
        console.print(Text(f"  {key} = {value}"))
    table = Table("version", "aliases", "candidate", "tags", title="versions")
    for row in data["versions"]:
        tags = ", ".join(f"{k}={v}" for k, v in sorted(row["tags"].items()))
        table.add_row(str(row["version"]), ", ".join(row["aliases"]), row["candidate_id"],
                      Text(tags))
    console.print(table)


def _demos(console: Any, demos: list[str], rows: dict[str, Any]) -> None:
    from rich.text import Text

    from honed.lifecycle.promote import demo_text

    if not demos:
        console.print(Text("demos:", style="bold"), Text("(none)"))
        return
    console.print(Text(f"demos ({len(demos)}):", style="bold"))
    for demo in demos:
        row = rows.get(demo)
        body = demo_text(row) if row else "  (row not stored with this version)\n"
        console.print(Text(f"- {demo}\n{body}".rstrip("\n")))


def copied(data: dict[str, Any]) -> None:
    """``registry copy``: per prompt, the new versions, updated tags and moved aliases."""
    from rich.text import Text

    console = _console()
    if not data["changed"]:
        console.print(Text(f"nothing to copy: {data['to']} already holds everything "
                           f"({', '.join(data['mapping']) or 'no prompts'})"))
        return
    for name in data["mapping"]:
        new, moved = data["versions"].get(name, []), data["aliases"].get(name, {})
        parts = [f"{len(new)} new version(s)" + (f" ({', '.join(map(str, new))})" if new else ""),
                 f"{data['tags'].get(name, 0)} tag(s) updated"]
        parts += [f"{a} -> {v}" for a, v in sorted(moved.items())]
        console.print(Text(f"{name}: {data['from']} -> {data['to']}: " + "; ".join(parts)))


def diff(text: str) -> None:
    """``registry diff``: a unified diff, coloured by line kind."""
    from rich.text import Text

    console = _console()
    styles = {"+": "green", "-": "red", "@": "cyan"}
    for line in text.splitlines():
        style = "bold" if line.startswith(("+++", "---")) else styles.get(line[:1], "")
        console.print(Text(line, style=style))


def promotion(data: dict[str, Any], verb: str) -> None:
    """``registry promote`` / ``rollback``: where production points now."""
    from rich.text import Text

    was = f" (was {data['previous']})" if data["previous"] is not None else ""
    if not data["changed"]:
        line = f"{data['name']}: production is already version {data['version']}"
    else:
        line = f"{data['name']}: {verb} production -> version {data['version']}{was}"
    if data.get("forced"):
        line += f"; forced past failed gates: {', '.join(data['blocked'])}"
    _console().print(Text(line))


def ui(command: str, logged: int, mlflow_installed: bool) -> None:
    """``honed registry ui``: the command on stdout; what was flushed and what is missing on
    stderr."""
    if logged:
        note(f"logged {logged} run(s) left in the spool to MLflow")
    typer.echo(command)
    if not mlflow_installed:
        note("note: MLflow is not installed here: pip install 'mlflow>=3'")


def warnings(lines: list[str]) -> None:
    for line in lines:
        note(f"warning: {line}")
