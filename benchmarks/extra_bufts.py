"""The embedded model with llama.cpp's extra buffer types (weight repacking) off vs on.

    python benchmarks/extra_bufts.py [--n 200] [--single 30] [--threads 2] [--rounds 1]

honed loads the model with extra buffer types off, because on AMX CPUs (Sapphire Rapids) the AMX
weight repacking makes decoding crash with SIGSEGV. This measures what that costs on the host
it runs on. Per setting it loads the model, warms it up, then times

- batched: one ``LocalModel.complete_batch`` over ``--n`` sentiment reviews behind one shared
  classification prompt (choices constrained), as ``honed eval`` runs them;
- one at a time: ``--single`` of those requests through ``LocalModel.complete``;
- generation: one greedy free-text completion of 64 tokens (tokens per second).

Settings run in ABBA order per round (off, on, on, off), which cancels a linear drift in the
machine's load; the table sums both runs of each setting. It also records which weight buffers
llama.cpp allocated (``CPU_REPACK`` / ``AMX`` appear only when repacking happened) and whether
the two settings give the same answers. Never turn extra buffers on for a timed run on an AMX
host: that is the crash this benchmark exists to price.
"""

from __future__ import annotations

import argparse
import asyncio
import ctypes
import os
import platform
import re
import time
from dataclasses import dataclass, field

from honed.doctor import CPUINFO, cpu_flags
from honed.providers.base import OutputSpec, Request
from honed.providers.local import LocalModel
from honed.task.task import ModelConfig
from honed.types import Message

SYSTEM = ("Classify the sentiment of the customer review as positive, negative or neutral. "
          "Positive: the customer is pleased. Negative: the customer is unhappy, something broke "
          "or they want a refund. Neutral: facts without an opinion. Answer with one word.")
CHOICES = ("positive", "negative", "neutral")
OPENINGS = ("The blender", "This jacket", "Our new kettle", "The phone case", "My desk lamp",
            "The running shoes", "This backpack", "The coffee grinder")
ENDINGS = ("works perfectly and I love it.", "broke after two days, I want a refund.",
           "is blue and weighs 300 grams.", "exceeded every expectation, five stars.",
           "arrived late and the box was crushed.", "comes with a cable and a manual.",
           "is the best thing I bought this year.", "stopped working, total waste of money.",
           "ships from a warehouse in Ohio.", "is fine, nothing special either way.")


@dataclass
class Timing:
    """Sums over the runs of one setting."""

    batched_s: float = 0.0
    single_s: float = 0.0
    gen_s: float = 0.0
    gen_tokens: int = 0
    runs: int = 0
    buffers: set[str] = field(default_factory=set)
    answers: list[str] = field(default_factory=list)


def reviews(n: int) -> list[Request]:
    labels = OutputSpec(choices=CHOICES)
    return [Request((Message("system", SYSTEM),
                     Message("user", f"{OPENINGS[i % len(OPENINGS)]} "
                                     f"{ENDINGS[(i * 7 + i // 8) % len(ENDINGS)]} (#{i})")),
                    max_tokens=8, output=labels) for i in range(n)]


def load_logged(cfg: ModelConfig) -> tuple[LocalModel, set[str]]:
    """Load the model while capturing llama.cpp's log, to see which weight buffers it made."""
    import llama_cpp
    from llama_cpp import _logger

    lines: list[str] = []

    @llama_cpp.llama_log_callback
    def capture(level: int, text: bytes, user_data: ctypes.c_void_p) -> None:
        lines.append(text.decode("utf-8", errors="replace"))

    llama_cpp.llama_log_set(capture, ctypes.c_void_p(0))
    try:
        model = LocalModel(cfg)
    finally:
        llama_cpp.llama_log_set(_logger.llama_log_callback, ctypes.c_void_p(0))
    found = re.findall(r"(\S+) model buffer size\s*=\s*([\d.]+ MiB)", "".join(lines))
    return model, {f"{name} {size}" for name, size in found}


def run_once(extra: bool, args: argparse.Namespace, timing: Timing) -> None:
    cfg = ModelConfig(n_threads=args.threads, extra_bufts=extra)
    model, buffers = load_logged(cfg)
    requests = reviews(args.n)
    story = Request((Message("user", "Write a long story about a lighthouse keeper."),),
                    max_tokens=64)
    try:
        asyncio.run(model.complete(requests[0]))  # warm up both paths
        asyncio.run(model.complete_batch(requests[:4]))
        started = time.perf_counter()
        batch = asyncio.run(model.complete_batch(requests))
        timing.batched_s += time.perf_counter() - started
        started = time.perf_counter()
        for request in requests[: args.single]:
            asyncio.run(model.complete(request))
        timing.single_s += time.perf_counter() - started
        gen = asyncio.run(model.complete(story))
        timing.gen_s += gen.latency_s
        timing.gen_tokens += gen.usage.output_tokens
    finally:
        asyncio.run(model.aclose())
    timing.runs += 1
    timing.buffers |= buffers
    timing.answers = [c.text for c in batch]


def machine() -> list[str]:
    import llama_cpp

    try:
        name, flags = cpu_flags(CPUINFO.read_text(encoding="utf-8", errors="replace"))
    except OSError:
        name, flags = platform.processor() or "unknown CPU", set()
    amx = " ".join(sorted(f for f in flags if f.startswith("amx_"))) or "none"
    info = " ".join(llama_cpp.llama_print_system_info().decode().split())
    return [f"cpu: {name}, {os.cpu_count()} cores; AMX: {amx}; AVX-512: "
            f"{'yes' if 'avx512f' in flags else 'no'}; AVX2: {'yes' if 'avx2' in flags else 'no'}",
            f"python {platform.python_version()}, llama-cpp-python {llama_cpp.__version__}, "
            f"OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY', '(unset)')}",
            f"llama.cpp: {info}"]


def table(args: argparse.Namespace, results: dict[bool, Timing]) -> list[str]:
    rows = [f"{'extra bufts':<12}{'batched ' + str(args.n):>14}{'ex/s':>8}"
            f"{'one at a time':>15}{'gen tok/s':>11}  weight buffers"]
    for extra, t in results.items():
        runs = max(t.runs, 1)
        batched, single = t.batched_s / runs, t.single_s / runs / max(args.single, 1)
        rows.append(f"{'on' if extra else 'off':<12}{batched:>13.2f}s{args.n / batched:>8.1f}"
                    f"{single * 1000:>12.0f} ms{t.gen_tokens / max(t.gen_s, 1e-9):>11.1f}  "
                    f"{', '.join(sorted(t.buffers))}")
    same = sum(a == b for a, b in zip(results[False].answers, results[True].answers, strict=True))
    rows.append(f"same batched answers off vs on: {same}/{args.n}")
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=200, help="examples in the batched eval")
    parser.add_argument("--single", type=int, default=30, help="one-at-a-time calls")
    parser.add_argument("--threads", type=int, default=min(os.cpu_count() or 1, 8))
    parser.add_argument("--rounds", type=int, default=1, help="ABBA rounds")
    args = parser.parse_args()
    _, flags = cpu_flags(CPUINFO.read_text(encoding="utf-8") if CPUINFO.exists() else "")
    if any(f.startswith("amx_") for f in flags):
        raise SystemExit("this CPU has AMX: extra buffer types on would crash; not measuring")
    results: dict[bool, Timing] = {False: Timing(), True: Timing()}
    for _ in range(args.rounds):
        for extra in (False, True, True, False):
            run_once(extra, args, results[extra])
    print("\n".join([*machine(), f"threads: {args.threads}", *table(args, results)]))


if __name__ == "__main__":
    main()
