"""``honed ui``: the dashboard (``honed.web``) over this ``$HONED_HOME``: runs, the prompt
registry and production traffic. Binds 127.0.0.1 unless told otherwise; read-only without an
admin key."""

from __future__ import annotations

from typing import Annotated

import typer


def ui_command(
    host: Annotated[str, typer.Option(help="interface to bind (0.0.0.0 exposes it)")]
    = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535)] = 8788,
) -> None:
    """Start the dashboard: runs (live while they run), compare, the prompt registry
    (promote and rollback with an admin key) and production traffic."""
    from honed.cli.render import report as show
    from honed.engine.session import honed_home
    from honed.errors import ConfigError

    try:
        import uvicorn

        from honed.web.app import create_app
    except ImportError:
        raise ConfigError("honed ui needs FastAPI, Jinja2 and uvicorn",
                          fix="pip install 'honed[serve]'") from None
    _check_port(host, port)
    home = honed_home()
    app = create_app(home, bind_host=host)
    show.serving(f"http://{host}:{port}", str(home), admin=False)
    uvicorn.run(app, host=host, port=port, log_level="warning", timeout_graceful_shutdown=2)


def _check_port(host: str, port: int) -> None:
    """A port another program holds is a usage error, said before anything starts."""
    import socket

    from honed.errors import ConfigError

    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise ConfigError(f"cannot listen on {host}:{port} ({exc.strerror or exc})",
                              field="--port", fix="pick a free port with --port N") from None
