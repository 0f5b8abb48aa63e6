"""``honed serve``: the registered prompts over HTTP (see ``honed.server``).

Binds 127.0.0.1 unless told otherwise. The production log and keys come from ``$HONED_DB``
(default SQLite under ``$HONED_HOME``); create a key with ``honed keys create``.
"""

from __future__ import annotations

from typing import Annotated

import typer


def serve_command(
    host: Annotated[str, typer.Option(help="interface to bind (0.0.0.0 exposes it)")]
    = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535)] = 8765,
    model: Annotated[str | None, typer.Option(
        "--model", help="model spec for versions that record none (default: local)",
        show_default=False)] = None,
    rate: Annotated[float, typer.Option(
        "--rate", min=0, help="requests a minute per key (0: no limit)")] = 600,
    check_experiments: Annotated[float, typer.Option(
        "--check-experiments", min=0,
        help="seconds between checks of running experiments (0: never)")] = 60,
) -> None:
    """Serve registered prompts: /v1/complete, /v1/chat/completions (OpenAI-compatible),
    /v1/prompts/REF, /v1/feedback, /metrics and /healthz."""
    import logging

    from honed.engine.session import honed_home
    from honed.errors import ConfigError

    try:
        import uvicorn

        from honed.server import create_app
    except ImportError:
        raise ConfigError("honed serve needs FastAPI and uvicorn",
                          fix="pip install 'honed[serve]'") from None
    from honed.store import open_store

    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: "
                                                      "%(message)s")
    logging.getLogger("honed").setLevel(logging.INFO)
    home = honed_home()
    store = open_store(home=home)
    try:
        app = create_app(home, store, model_override=model, rate_per_minute=rate or None,
                         experiment_check_s=check_experiments or None)
        uvicorn.run(app, host=host, port=port, log_level="info")
    finally:
        store.close()
