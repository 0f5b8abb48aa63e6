"""``honed keys create|list|revoke``: honed's own API keys for ``honed serve``.

A key is shown once, when it is created (alone on the last line of stdout, so scripts can take
it with ``tail -n1``); the store keeps only its hash.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Annotated

import typer

from honed.cli.options import JsonOpt

if TYPE_CHECKING:
    from honed.lifecycle.registry import PromptRegistry
    from honed.store import LogStore

ScopeOpt = Annotated[str, typer.Option(
    "--scope", help="serve (completions, prompts), feedback (post feedback) or admin (all)",
    show_default=False)]
NameOpt = Annotated[str | None, typer.Option("--name", help="a label for the key")]
KeyIdArg = Annotated[str, typer.Argument(help="the key's id (see `honed keys list`)",
                                         show_default=False)]


def open_log() -> LogStore:
    """The production log of this home (``$HONED_DB`` or ``$HONED_HOME/serve.sqlite``)."""
    from honed.engine.session import honed_home
    from honed.store import open_store

    return open_store(home=honed_home())


@contextmanager
def open_log_and_registry() -> Iterator[tuple[LogStore, PromptRegistry]]:
    """The production log and the prompt registry of this home, both closed at the end."""
    from honed.engine.session import honed_home
    from honed.lifecycle.registries import open_registry

    registry = open_registry(honed_home())
    try:
        with open_log() as store:
            yield store, registry
    finally:
        close = getattr(registry, "close", None)
        if callable(close):
            close()


def keys_create(scope: ScopeOpt, name: NameOpt = None) -> None:
    """Create an API key; it is printed once, alone on the last line."""
    from honed.cli.render import serve as show

    with open_log() as store:
        key_id, plaintext = store.create_key(scope, name)
    show.new_key(key_id, scope, name or key_id, plaintext)


def keys_list(json_output: JsonOpt = False) -> None:
    """List API keys (ids, names, scopes, use; never the keys)."""
    from honed.cli.render import serve as show

    with open_log() as store:
        rows = [k.as_dict() for k in store.list_keys()]
    if json_output:
        from honed.cli import render

        render.json_out({"keys": rows})
        return
    show.keys_table(rows)


def keys_revoke(key_id: KeyIdArg) -> None:
    """Revoke an API key: it stops working at once."""
    from honed.cli.render import serve as show

    with open_log() as store:
        row = store.revoke_key(key_id)
    show.revoked(row.as_dict())
