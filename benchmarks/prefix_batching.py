"""Shared-prefix batched evaluation vs one request at a time on the embedded model.

    python benchmarks/prefix_batching.py [--n 100] [--threads 2] [--batch-size 16]
        [--max-tokens 16] [--modes choices,free,explain] [--flash-attn on|off] [--abba]
        [--noise-floor] [--gpu-layers N] [--versus-cpu] [--model PATH.gguf]

Builds a realistic classification prompt (label definitions, rules and one demo per label from
the train split, about 330 shared tokens) and puts ``--n`` tweets from tweeteval-emotion's test
split behind it (read from ../shared/datasets, never copied into the repository). In one
process, at the same thread count, it times

- one at a time: ``LocalModel.complete`` per request (``create_chat_completion`` after
  ``reset()``; choices through a GBNF grammar), and
- batched: one ``LocalModel.complete_batch`` call (shared prefix evaluated once, suffixes decoded
  together, choices through a token trie),

in three modes: ``choices`` (constrained to the labels), ``free`` (the same prompt, free text:
it mostly answers a label) and ``explain`` (prompt and demos ask for the label and a reason,
so outputs run to about max_tokens). It reports wall and CPU times, the speedup and how often
the two give the same text. ``--abba`` times one-at-a-time, batched, batched, one-at-a-time
and sums each, which cancels a linear drift in the machine's load. ``--noise-floor`` also runs
one at a time with another thread count: llama.cpp's numerics depend on it too, which shows
what agreement to expect. ``--gpu-layers N`` offloads N layers (-1: all) to the GPU of a CUDA (or
other GPU) build of llama-cpp-python, and ``--versus-cpu`` then also runs one at a time on the CPU
and reports how often the GPU's answers equal the CPU's. The machine is shared and noisy: compare
ratios, not absolute numbers.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import time
from collections.abc import Sequence
from pathlib import Path

from honed.providers.base import Completion, OutputSpec, Request
from honed.providers.local import LocalModel, LocalOptions
from honed.providers.local_batch import BatchSettings
from honed.task.task import ModelConfig
from honed.types import Message

DATA = Path(os.environ.get("HONED_DATASETS")
            or Path(__file__).resolve().parents[2] / "shared" / "datasets") / "tweeteval-emotion"
LABELS = ("anger", "joy", "optimism", "sadness")
ONE_LABEL = "Answer with exactly one label in lowercase and nothing else."
EXPLAIN = "Answer with the label, then say why in one short sentence."
SYSTEM = """You are an expert annotator of social media posts. Read the tweet and decide which \
single emotion its author expresses most strongly.

Labels:
- anger: the author is annoyed, irritated, furious, offended or hostile toward someone or \
something; includes frustration, outrage, insults and complaints made in a heated tone.
- joy: the author feels happy, delighted, amused, excited or grateful right now; includes \
celebrations, laughter, love for something and pleasure in the moment.
- optimism: the author is hopeful or confident about the future; includes encouragement, \
motivation, faith that things will improve and positive plans.
- sadness: the author feels down, disappointed, lonely, grieving, hurt or hopeless; includes \
regret, missing someone and discouragement.

Rules: ignore hashtags and @user mentions unless they carry emotion, read sarcasm by its intended \
meaning, and when several emotions appear choose the dominant one. """ + ONE_LABEL


def read_jsonl(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


WHY = {"anger": "the author sounds annoyed and hostile",
       "joy": "the author sounds happy and delighted",
       "optimism": "the author sounds hopeful about the future",
       "sadness": "the author sounds hurt and down"}


def demos(train: Sequence[dict[str, str]], explain: bool,
          max_chars: int = 110) -> tuple[Message, ...]:
    """One short train example per label, as user/assistant turns."""
    turns: list[Message] = []
    for label in LABELS:
        row = next(r for r in train if r["label"] == label and len(r["text"]) <= max_chars)
        answer = f"{label}: {WHY[label]}." if explain else label
        turns += [Message("user", f"Tweet: {row['text']}"), Message("assistant", answer)]
    return tuple(turns)


def build_requests(n: int, mode: str, max_tokens: int) -> list[Request]:
    """``choices``: constrained to the labels; ``free``: the same prompt, unconstrained text;
    ``explain``: unconstrained, label plus a reason (outputs run to about ``max_tokens``)."""
    explain = mode == "explain"
    system = SYSTEM.replace(ONE_LABEL, EXPLAIN) if explain else SYSTEM
    prefix = (Message("system", system), *demos(read_jsonl(DATA / "train.jsonl"), explain))
    output = OutputSpec(choices=LABELS) if mode == "choices" else OutputSpec()
    return [Request((*prefix, Message("user", f"Tweet: {row['text']}")), max_tokens=max_tokens,
                    output=output) for row in read_jsonl(DATA / "test.jsonl")[:n]]


Timed = tuple[float, float, list[Completion]]  # wall s, CPU s, completions


def one_at_a_time(model: LocalModel, requests: Sequence[Request]) -> Timed:
    wall, cpu = time.perf_counter(), time.process_time()
    out = [asyncio.run(model.complete(r)) for r in requests]
    return time.perf_counter() - wall, time.process_time() - cpu, out


def batched(model: LocalModel, requests: Sequence[Request]) -> Timed:
    wall, cpu = time.perf_counter(), time.process_time()
    out = asyncio.run(model.complete_batch(requests))
    return time.perf_counter() - wall, time.process_time() - cpu, out


def timed_pair(model: LocalModel, requests: Sequence[Request], abba: bool) -> tuple[Timed, Timed]:
    """(one at a time, batched), each summed over its runs; completions of the first run."""
    order = ("seq", "batch", "batch", "seq") if abba else ("seq", "batch")
    runs: dict[str, list[Timed]] = {"seq": [], "batch": []}
    for kind in order:
        runs[kind].append((one_at_a_time if kind == "seq" else batched)(model, requests))
        print(f"  {kind:5s} run: {runs[kind][-1][0]:7.2f} s wall, load avg {load()}", flush=True)
    seq, bat = runs["seq"], runs["batch"]
    return ((sum(r[0] for r in seq), sum(r[1] for r in seq), seq[0][2]),
            (sum(r[0] for r in bat), sum(r[1] for r in bat), bat[0][2]))


def load() -> str:
    return ", ".join(f"{x:.2f}" for x in os.getloadavg())


def agreement(a: Sequence[Completion], b: Sequence[Completion]) -> str:
    same = sum(x.text == y.text for x, y in zip(a, b, strict=True))
    return f"{same}/{len(a)} = {same / len(a):.0%}"


def gpu_offload() -> bool:
    import llama_cpp

    return bool(llama_cpp.llama_supports_gpu_offload())


def machine_info(threads: int) -> str:
    import llama_cpp

    cpu = next((line.split(":", 1)[1].strip() for line in
                Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    return (f"{platform.platform()} | {cpu} | {os.cpu_count()} cores | load avg {load()} | "
            f"python {platform.python_version()} | llama-cpp-python {llama_cpp.__version__} | "
            f"n_threads={threads}")


def run_mode(model: LocalModel, mode: str, args: argparse.Namespace,
             floor: LocalModel | None) -> None:
    requests = build_requests(args.n, mode, args.max_tokens)
    tokens = model._job(requests[0])  # rendered prompt of the first request
    print(f"\n## {mode}: {len(requests)} requests, max_tokens={args.max_tokens}, first prompt "
          f"{len(tokens.tokens) if tokens else '?'} tokens")
    one_at_a_time(model, requests[:2])  # warm-up: grammar compile, caches
    batched(model, requests[:2])  # warm-up: batch context, vocabulary tables
    (t_seq, c_seq, seq), (t_batch, c_batch, bat) = timed_pair(model, requests, args.abba)
    runs = 2 if args.abba else 1
    for name, wall, cpu, out in (("one at a time", t_seq, c_seq, seq),
                                 ("batched", t_batch, c_batch, bat)):
        print(f"{name:14s}: {wall:7.2f} s wall, {cpu:7.2f} s CPU "
              f"({wall / runs / len(requests) * 1000:5.0f} ms/request, "
              f"{sum(c.usage.output_tokens for c in out)} output tokens)")
    print(f"speedup       : {t_seq / t_batch:.2f}x wall, {c_seq / c_batch:.2f}x CPU")
    finish = sum(a.finish_reason == b.finish_reason for a, b in zip(seq, bat, strict=True))
    print(f"agreement     : {agreement(seq, bat)} identical texts, {finish} equal finish reasons")
    if mode == "choices":
        print(f"batched labels: {sorted({c.text for c in bat})}")
    diffs = [(a.text, b.text) for a, b in zip(seq, bat, strict=True) if a.text != b.text]
    for a, b in diffs[:3]:
        print(f"  differs: {a[:60]!r} vs batched {b[:60]!r}")
    if floor is not None:
        t_floor, _, ref = one_at_a_time(floor, requests)
        print(f"{floor_name(floor, model):14s}: one at a time: {agreement(seq, ref)} identical "
              f"({t_floor:.1f} s, {t_floor / (t_seq / runs):.2f}x this model's time)")


def floor_name(floor: LocalModel, model: LocalModel) -> str:
    if floor.cfg.n_gpu_layers != model.cfg.n_gpu_layers:
        return f"vs CPU (n_gpu_layers={floor.cfg.n_gpu_layers})"
    return f"noise floor (n_threads={floor.cfg.n_threads} vs {model.cfg.n_threads})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=100)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--max-tokens", type=int, default=16)
    parser.add_argument("--modes", default="choices,free,explain")
    parser.add_argument("--flash-attn", choices=("on", "off"), default="on")
    parser.add_argument("--abba", action="store_true")
    parser.add_argument("--noise-floor", action="store_true")
    parser.add_argument("--gpu-layers", type=int, default=0)
    parser.add_argument("--versus-cpu", action="store_true")
    parser.add_argument("--model", type=Path, help="a GGUF file (default: the embedded model)")
    args = parser.parse_args()

    options = LocalOptions(flash_attn=args.flash_attn == "on",
                           batch=BatchSettings(max_sequences=args.batch_size))
    started = time.perf_counter()
    cfg = ModelConfig(n_threads=args.threads, n_gpu_layers=args.gpu_layers)
    model = LocalModel(cfg, args.model, options=options)
    print(f"# prefix batching benchmark\n{machine_info(args.threads)}")
    print(f"flash_attn={args.flash_attn}, batch size {args.batch_size}, n_gpu_layers="
          f"{args.gpu_layers} (GPU offload supported by this build: {gpu_offload()}), model "
          f"load {time.perf_counter() - started:.2f} s")
    floor = None
    if args.versus_cpu or args.noise_floor:  # the same model on the CPU, or at other threads
        threads = args.threads if args.versus_cpu else (1 if args.threads != 1 else 2)
        floor = LocalModel(ModelConfig(n_threads=threads), args.model, options=options)
    for mode in args.modes.split(","):
        run_mode(model, mode, args, floor)
    print(f"\nload avg at end: {load()}")


if __name__ == "__main__":
    main()
