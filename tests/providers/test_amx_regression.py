"""Regression: on AMX CPUs llama.cpp's extra buffer types (AMX weight repacking) made any decode
of more than a few tokens die with SIGSEGV. The embedded model now loads without them.

Each check runs in a child process, so a segfault is an exit code here, not a dead pytest. On a
host without AMX these pass either way; on an AMX host they fail if extra buffers come back on.
"""

import json
import os
import subprocess
import sys
import textwrap

import pytest

from honed.providers.local import EXTRA_BUFTS_ENV
from honed.testing import has_local_model

pytestmark = [pytest.mark.model,
              pytest.mark.skipif(not has_local_model(), reason="embedded model not installed")]

LONG_DECODE = """
    import asyncio, json, sys
    from honed.providers.base import Request
    from honed.providers.local import LocalModel
    from honed.task.task import ModelConfig
    from honed.types import Message

    model = LocalModel(ModelConfig(n_threads=2))
    request = Request((Message("user", "Count from 1 to 100, separated by spaces."),),
                      max_tokens=80)
    out = asyncio.run(model.complete(request))
    print(json.dumps({"text": out.text, "tokens": out.usage.output_tokens,
                      "extra_bufts": bool(model._llm.model_params.use_extra_bufts)}))
"""

BATCHED_EVAL = """
    import asyncio, json
    from honed.providers.base import OutputSpec, Request
    from honed.providers.local import LocalModel
    from honed.task.task import ModelConfig
    from honed.types import Message

    reviews = ["I love it", "broke after a day", "it is blue", "great value", "awful service"]
    system = Message("system", "Classify the sentiment of the review.")
    labels = OutputSpec(choices=("positive", "negative", "neutral"))
    requests = [Request((system, Message("user", f"{reviews[i % 5]} (order {i})")),
                        max_tokens=8, output=labels) for i in range(30)]
    requests += [Request((Message("user", f"Describe item {i} in one sentence."),),
                         max_tokens=16) for i in range(10)]
    model = LocalModel(ModelConfig(n_threads=2))
    out = asyncio.run(model.complete_batch(requests))
    print(json.dumps([[c.text, c.usage.output_tokens, c.finish_reason] for c in out]))
"""


def _run(code: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != EXTRA_BUFTS_ENV}  # the default load
    # llama.cpp's OpenMP threads busy-wait between ops; on a CPU shared with other jobs that
    # makes a 2-thread decode 5-10x slower. Sleeping waits change nothing in the kernels.
    env.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True,
                          text=True, env=env, timeout=240)


def _exited_cleanly(proc: subprocess.CompletedProcess[str]) -> None:
    assert proc.returncode == 0, (f"exit {proc.returncode} (-11 or 139 is SIGSEGV)\n"
                                  f"{proc.stderr[-2000:]}")


def test_a_long_greedy_decode_survives() -> None:
    proc = _run(LONG_DECODE)
    _exited_cleanly(proc)
    data = json.loads(proc.stdout.strip().splitlines()[-1])
    assert data["extra_bufts"] is False
    assert data["tokens"] >= 64, data
    assert sum(ch.isdigit() for ch in data["text"]) >= 20, data  # it counts, more or less


def test_a_40_example_batched_eval_survives() -> None:
    proc = _run(BATCHED_EVAL)
    _exited_cleanly(proc)
    rows = json.loads(proc.stdout.strip().splitlines()[-1])
    assert len(rows) == 40
    assert {text for text, _, _ in rows[:30]} <= {"positive", "negative", "neutral"}
    assert all(text.strip() and 0 < tokens <= 16 for text, tokens, _ in rows[30:])
    assert any(tokens >= 8 for _, tokens, _ in rows[30:])  # the decode went past a few tokens
