"""Map exceptions to exit codes and short messages: 2 for bad input, never a traceback."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

EXIT_OK, EXIT_FAIL, EXIT_USAGE, EXIT_BLOCK, EXIT_INTERRUPTED = 0, 1, 2, 3, 130


def run_guarded(call: Callable[[], Any]) -> int:
    from honed.cli import render
    from honed.errors import AuthError, BudgetExhausted, ConfigError, GateFailed, HonedError

    try:
        call()
        return EXIT_OK
    except SystemExit as exc:  # click's standalone mode: usage errors, --help, typer.Exit
        return exc.code if isinstance(exc.code, int) else (EXIT_OK if exc.code is None
                                                           else EXIT_FAIL)
    except KeyboardInterrupt:
        render.error("interrupted; work done so far is kept")
        return EXIT_INTERRUPTED
    except (ConfigError, AuthError) as exc:
        render.error(f"error: {exc}")
        return EXIT_USAGE
    except BudgetExhausted as exc:
        render.error(f"stopped: {exc}")
        return EXIT_FAIL
    except GateFailed as exc:
        render.error(f"blocked: {exc}")
        return EXIT_BLOCK
    except HonedError as exc:
        render.error(f"error: {type(exc).__name__}: {exc}")
        return EXIT_FAIL
    except OSError as exc:
        if exc.filename is None:  # not about a path: a bug, or the system
            return _internal(exc)
        render.error(f"error: {exc.filename}: {exc.strerror or exc}\n  fix: {PATH_FIX}")
        return EXIT_USAGE
    except Exception as exc:
        return _internal(exc)


PATH_FIX = ("check that the path exists, is a folder where one is needed, and is writable "
            "($HONED_HOME names the folder where honed keeps its state)")


def _internal(exc: BaseException) -> int:
    """A bug: the details go to a file, not on the user's screen."""
    from honed.cli import render

    path = _save_traceback()
    render.error(f"internal error: {type(exc).__name__}: {exc}\n  details: {path} "
                 "(please report it)")
    return EXIT_FAIL


def _save_traceback() -> str:
    import traceback

    from honed.engine.session import honed_home

    path = honed_home() / "logs" / "last-error.txt"
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(traceback.format_exc(), encoding="utf-8")
    except OSError:
        return "(could not write the traceback)"
    return str(path)
