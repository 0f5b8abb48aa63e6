"""``honed registry list|show|diff|promote|rollback|copy|ui``.

Thin edges over ``honed.lifecycle.promote``: parse arguments, call, render (rich tables on a
terminal, one JSON object with ``--json``). Errors are ConfigError / GateFailed from below.
The backend is ``--backend``, else ``HONED_REGISTRY``, else ``local`` (never a guess from what is
installed); ``honed registry copy`` moves prompts between backends.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated, Any

import typer

from honed.cli.options import JsonOpt

if TYPE_CHECKING:
    from honed.lifecycle.registry import PromptRegistry, PromptVersion

BackendOpt = Annotated[str | None, typer.Option(
    "--backend", help="local or mlflow (default: $HONED_REGISTRY, else local)",
    show_default=False)]
NameArg = Annotated[str, typer.Argument(help="prompt name (usually the task name)",
                                        show_default=False)]
VersionArg = Annotated[int, typer.Argument(min=1, help="version number", show_default=False)]


def _open(backend: str | None) -> PromptRegistry:
    from honed.engine.session import honed_home
    from honed.lifecycle.registries import open_registry
    from honed.lifecycle.registry import registry_backend

    chosen = None if backend in (None, "auto") else backend  # auto: the setting, as before
    return open_registry(honed_home(), backend=registry_backend(chosen))


def version_dict(v: PromptVersion) -> dict[str, Any]:
    from honed.optimizers.base import describe

    return {"name": v.name, "version": v.version, "aliases": list(v.aliases),
            "tags": dict(v.tags), "created": v.created, "candidate_id": v.candidate.id,
            "prompt": describe(v.candidate),
            "demo_rows": {d: dict(v.demo_rows[d]) for d in v.candidate.demos
                          if d in v.demo_rows}}


def _elsewhere(backend: str) -> str | None:
    """A hint when the local registry is empty but an MLflow store sits next to it (whose
    prompt registry was the default before the backend became a setting)."""
    from honed.engine.session import honed_home
    from honed.lifecycle.registry import REGISTRY_ENV
    from honed.tracking.mlflow import DB_NAME

    if backend != "local" or not (honed_home() / DB_NAME).exists():
        return None
    return (f"note: the MLflow store in {honed_home()} may hold prompts; see them with "
            f"`honed registry list --backend mlflow` (or {REGISTRY_ENV}=mlflow), copy them "
            "with `honed registry copy --from mlflow --to local`")


# commands ---------------------------------------------------------------------------------------
def registry_list(json_output: JsonOpt = False, backend: BackendOpt = None) -> None:
    """List registered prompts with their latest version and aliases."""
    from honed.cli.render import registry as show

    registry = _open(backend)
    rows = []
    for name in registry.names():
        versions = registry.versions(name)
        aliases = {a: v.version for v in versions for a in v.aliases}
        rows.append({"name": name, "versions": len(versions),
                     "latest": versions[-1].version if versions else None,
                     "aliases": dict(sorted(aliases.items()))})
    data: dict[str, Any] = {"backend": registry.backend, "prompts": rows}
    note = None if rows else _elsewhere(registry.backend)
    if json_output:
        _json({**data, "note": note} if note else data)
        return
    show.prompts_table(data)
    if note:
        show.note(note)


def registry_show(name: NameArg,
                  version: Annotated[int | None, typer.Argument(
                      min=1, help="version (default: production, else the latest)")] = None,
                  json_output: JsonOpt = False, backend: BackendOpt = None) -> None:
    """Show one version of a prompt (NAME, NAME@ALIAS or NAME/VERSION) and its history."""
    from honed.cli.render import registry as show
    from honed.lifecycle.registry import PRODUCTION, PromptRef, parse_ref

    registry = _open(backend)
    ref = parse_ref(name) if ("@" in name or "/" in name) else None
    if ref is None:
        ref = PromptRef(name, version=version)
        if version is None and PRODUCTION in registry.aliases(name):
            ref = PromptRef(name, alias=PRODUCTION)
    shown = registry.get(ref)
    history = [{"version": v.version, "aliases": list(v.aliases), "candidate_id": v.candidate.id,
                "tags": dict(v.tags), "created": v.created} for v in registry.versions(ref.name)]
    data = {"backend": registry.backend, **version_dict(shown), "versions": history}
    _out(data, json_output, show.version)


def registry_diff(name: NameArg, v1: VersionArg, v2: VersionArg, json_output: JsonOpt = False,
                  backend: BackendOpt = None) -> None:
    """Unified diff of two versions (system, user, demos)."""
    from honed.cli.render import registry as show
    from honed.lifecycle.promote import diff_versions

    text = diff_versions(_open(backend), name, v1, v2)
    if json_output:
        _json({"name": name, "from": v1, "to": v2, "identical": not text, "diff": text})
    else:
        show.diff(text or f"{name}/{v1} and {name}/{v2} are identical\n")


def registry_promote(name: NameArg, version: VersionArg,
                     force: Annotated[bool, typer.Option(
                         "--force", help="promote despite failed BLOCK_DEPLOY gates")] = False,
                     json_output: JsonOpt = False, backend: BackendOpt = None) -> None:
    """Point `production` at VERSION (the replaced one stays as `previous-production`)."""
    from honed.lifecycle.promote import blocked_from_tags, promote
    from honed.lifecycle.registry import PromptRef

    registry = _open(backend)
    target = registry.get(PromptRef(name, version=version))
    result = promote(registry, name, version, force=force, blocked=blocked_from_tags(target.tags))
    _promotion(result.to_dict(), json_output, "promoted")


def registry_rollback(name: NameArg, json_output: JsonOpt = False,
                      backend: BackendOpt = None) -> None:
    """Move `production` back to `previous-production`."""
    from honed.lifecycle.promote import rollback

    _promotion(rollback(_open(backend), name).to_dict(), json_output, "rolled back")


FromOpt = Annotated[str, typer.Option("--from", help="local or mlflow", show_default=False)]
ToOpt = Annotated[str, typer.Option("--to", help="local or mlflow", show_default=False)]


def registry_copy(from_backend: FromOpt, to_backend: ToOpt,
                  names: Annotated[list[str] | None, typer.Argument(
                      help="prompt names (default: all)", show_default=False)] = None,
                  json_output: JsonOpt = False) -> None:
    """Copy prompts between registries with every version, tag, demo row and alias.

    Running it again copies nothing new: identical content maps onto the existing version.
    """
    from honed.cli.render import registry as show
    from honed.errors import ConfigError
    from honed.lifecycle.registries import copy_prompts
    from honed.lifecycle.registry import registry_backend

    source = registry_backend(from_backend, flag="--from")
    target = registry_backend(to_backend, flag="--to")
    if source == target:
        raise ConfigError(f"--from and --to are both {source}", field="--to",
                          fix="copy from local to mlflow or from mlflow to local")
    report = copy_prompts(_open(source), _open(target), names or ())
    _out({"from": source, "to": target, **report.to_dict()}, json_output, show.copied)


def ui_command(port: Annotated[int, typer.Option(min=1, max=65535)] = 5000,
               host: Annotated[str, typer.Option()] = "127.0.0.1",
               json_output: JsonOpt = False) -> None:
    """Print the command that opens the MLflow UI on honed's local store."""
    from honed.cli.render import registry as show
    from honed.engine.session import honed_home
    from honed.tracking.mlflow import mlflow_available, tracking_uri
    from honed.tracking.mlflow import ui_command as command

    home = honed_home()
    logged = _flush_spool(home)
    text = command(home, host=host, port=port)
    if json_output:
        _json({"command": text, "tracking_uri": tracking_uri(home), "url":
               f"http://{host}:{port}", "mlflow_installed": mlflow_available(),
               "logged_runs": logged})
        return
    show.ui(text, logged, mlflow_available())


def _flush_spool(home: Any) -> int:
    """Runs still waiting in the spool go to MLflow now, so the UI shows them."""
    from honed.cli.render import registry as show
    from honed.tracking.mlflow import flush_pending, mlflow_available, pending

    if not mlflow_available() or not pending(home, grace_s=0):
        return 0
    result = flush_pending(home, grace_s=0)
    show.warnings(list(result.errors))
    return len(result.receipts)


# output -----------------------------------------------------------------------------------------
def _json(data: Any) -> None:
    from honed.cli import render

    render.json_out(data)


def _out(data: dict[str, Any], json_output: bool,
         text: Callable[[dict[str, Any]], None]) -> None:
    """One JSON object with --json, else ``text(data)`` (a ``render.registry`` function)."""
    if json_output:
        _json(data)
    else:
        text(data)


def _promotion(data: dict[str, Any], json_output: bool, verb: str) -> None:
    from honed.cli.render import registry as show

    if json_output:
        _json(data)
    else:
        show.promotion(data, verb)
