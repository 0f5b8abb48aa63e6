"""The loopback fake OpenAI-compatible endpoint as a separate process, for the throughput
benchmarks (engine_throughput.py, ray_throughput.py)."""

from __future__ import annotations

import socket
import subprocess
import sys
import time


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(latency: float, timeout_s: float = 20) -> tuple[subprocess.Popen[bytes], str]:
    """``python -m honed.providers.fake_server`` answering after ``latency`` seconds; the
    process and its base URL once it accepts connections."""
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "honed.providers.fake_server", "--port",
                             str(port), "--latency", str(latency)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + timeout_s
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return proc, f"http://127.0.0.1:{port}/v1"
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise RuntimeError("fake server did not start")
