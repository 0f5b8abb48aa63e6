"""``honed serve`` killed with SIGKILL under load: every request it answered 200 is in the log.

The store commits a request's row before the answer goes back, so a crash may lose requests in
flight but never one that a client saw succeed.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from honed.store import open_store

pytestmark = pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL")
HONED = str(Path(sys.executable).with_name("honed"))


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_kill_9_loses_no_acknowledged_request(served: Any) -> None:
    home, key = served.home, served.keys["serve"]  # the registered prompts and a serve key
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("HONED_DB", "HONED_REGISTRY")}
    env["HONED_HOME"] = str(home)
    server = subprocess.Popen([HONED, "serve", "--model", "fake:answer=ok", "--port", str(port),
                               "--rate", "0"], env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            assert server.poll() is None, "honed serve exited at start-up"
            assert time.monotonic() < deadline, "honed serve did not answer /healthz"
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.1)

        acked: list[str] = []
        failed = [0]
        lock = threading.Lock()
        stop = threading.Event()

        def worker(n: int) -> None:
            with httpx.Client(base_url=base, timeout=5) as http:
                i = 0
                while not stop.is_set():
                    i += 1
                    try:
                        resp = http.post("/v1/complete",
                                         headers={"Authorization": f"Bearer {key}"},
                                         json={"prompt": "sent@production",
                                               "inputs": {"text": f"w{n} r{i}",
                                                          "choices": "ok, not ok"}})
                    except httpx.HTTPError:
                        with lock:
                            failed[0] += 1
                        if server.poll() is not None:
                            return
                        continue
                    if resp.status_code == 200:
                        with lock:
                            acked.append(resp.json()["id"])

        with ThreadPoolExecutor(max_workers=8) as pool:
            futures = [pool.submit(worker, n) for n in range(8)]
            time.sleep(2.0)
            os.kill(server.pid, signal.SIGKILL)
            server.wait(timeout=10)
            time.sleep(0.3)  # let the workers see the dead server
            stop.set()
            for future in futures:
                future.result(timeout=10)
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()

    assert server.returncode == -signal.SIGKILL
    assert len(acked) > 10, f"too few requests were answered before the kill ({len(acked)})"
    store = open_store(home=home)
    try:
        logged = {row["id"] for row in store.requests()}
    finally:
        store.close()
    missing = sorted(set(acked) - logged)
    assert not missing, f"{len(missing)} of {len(acked)} acknowledged requests are not logged"
