"""A sample optimization for demos, tests and benchmarks of the report and the dashboard.

``write_task`` writes a small sentiment task whose rows and prompt hold HTML and script tags (what
a report must show as text, never run); ``SampleModel`` is a scripted ``FakeModel`` that answers
better once a prompt states the label set or shows demos, so an optimization has a trajectory, a
best prompt that differs from the seed, and examples on which prompts disagree.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from honed.providers.base import Request
from honed.providers.fake import FakeModel, last_user

HOSTILE = "<script>window.__pwned = 1</script>"  # must be shown, never run
HOSTILE_IMG = '<img src="x" onerror="window.__pwned = 1">'

_ROWS: tuple[tuple[str, str], ...] = (
    ("I love it", "positive"), ("<b>great</b> value", "positive"),
    ("works perfectly", "positive"), ("so happy with this", "positive"),
    ("best purchase this year", "positive"), ("five stars & more", "positive"),
    ("terrible service", "negative"), ("broke after a day", "negative"),
    ("awful, never again", "negative"), ("waste of money", "negative"),
    ("rude staff", "negative"), ("the box was crushed", "negative"),
    ("it is blue", "neutral"), ("arrives on monday", "neutral"),
    ("comes in a box", "neutral"), (f"{HOSTILE_IMG} a photo of it", "neutral"),
    ("weighs two kilos", "neutral"), ("sold in pairs", "neutral"),
    ("fantastic quality", "positive"), (f"{HOSTILE} broke at once", "negative"),
    ("it is made of steel", "neutral"), ("really pleased", "positive"),
    ("fell apart", "negative"), ("ships from spain", "neutral"),
    ("a delight to use", "positive"), ("never worked", "negative"),
    ("has two buttons", "neutral"), ("exceeded my hopes", "positive"),
    ("refund took months", "negative"), ("measures ten inches", "neutral"),
)
LABELS = {text: label for text, label in _ROWS}
TASK_YAML = """\
name: {name}
model: fake
tracking: none
prompt:
  system: "Classify the review. <i>Be brief</i> {hostile}"
  user: '{{text}}'
data:
  train: data/train.jsonl
  val: data/val.jsonl
  test: data/test.jsonl
evals:
  - type: exact_match
    expected: '{{label}}'
"""


def write_task(folder: Path, name: str = "sentiment") -> Path:
    """The sample task and its data in ``folder`` (train 12 rows, val 10, test 8); its path."""
    rows = [{"text": text, "label": label} for text, label in _ROWS]
    splits = {"train": rows[:12], "val": rows[12:22], "test": rows[22:]}
    (folder / "data").mkdir(parents=True, exist_ok=True)
    for split, data in splits.items():
        (folder / "data" / f"{split}.jsonl").write_text(
            "".join(json.dumps(r) + "\n" for r in data), encoding="utf-8")
    path = folder / "task.yaml"
    path.write_text(TASK_YAML.format(name=name, hostile=HOSTILE.replace('"', "'")),
                    encoding="utf-8")
    return path


def _answer(request: Request) -> str:
    """Right more often the more the prompt helps: a stated label set, demos, a role line;
    which examples it gets right is a fixed function of the example, so runs repeat."""
    prompt = last_user(request)
    text = next((t for t in sorted(LABELS, key=len, reverse=True) if t in prompt), None)
    if text is None:
        return "neutral"
    if text.startswith(HOSTILE):
        return HOSTILE  # an output that holds a script tag
    system = next((m.content for m in request.messages if m.role == "system"), "").lower()
    demos = sum(1 for m in request.messages if m.role == "user") - 1
    chance = (0.25 + 0.35 * ("labels:" in system) + 0.06 * min(demos, 4)
              + 0.1 * ("expert" in system))
    return LABELS[text] if _difficulty(text) < chance else "positive"


def _difficulty(text: str) -> float:
    import hashlib

    return int(hashlib.sha256(text.encode()).hexdigest()[:8], 16) / 0xFFFFFFFF


class SampleModel(FakeModel):
    """The scripted model of the sample task (``latency_s`` slows each call, so a run lasts)."""

    def __init__(self, *, latency_s: float = 0.0, cost_per_call: float = 0.0001) -> None:
        super().__init__(_answer, spec="fake", latency_s=latency_s,
                         cost_per_call=cost_per_call)


async def run_sample(task_path: Path, *, home: Path, max_calls: int = 300, seed: int = 0,
                     latency_s: float = 0.0, optimizer: str = "auto",
                     publish: bool = False) -> dict[str, Any]:
    """Optimize the sample task with ``SampleModel``; the result as ``honed optimize --json``
    prints it."""
    from honed.engine.budget import Limits
    from honed.lifecycle.optimize import OptimizeOptions, optimize
    from honed.optimizers.session import SearchOptions
    from honed.task.config import load_task

    task = load_task(task_path)
    search = SearchOptions(seed=seed, limits=Limits.of(max_calls, None, None, None), home=home)
    options = OptimizeOptions(optimizer=optimizer, search=search, write_output=False,
                              publish=publish)
    result = await optimize(task, options, model=SampleModel(latency_s=latency_s))
    return result.to_dict()


def fill_log(store: Any, n: int, *, prompt: str = "sentiment", versions: tuple[int, ...] = (1, 2),
             now: float | None = None, days: float = 7.0, seed: int = 0,
             feedback_every: int = 5) -> list[str]:
    """``n`` served requests of ``prompt`` spread over the last ``days`` (later versions later,
    a few errors, some outputs and feedback holding HTML), feedback on every
    ``feedback_every``-th; written through the log store. Returns the request ids."""
    import random
    import time

    rng, now = random.Random(seed), time.time() if now is None else now
    texts = list(LABELS)
    rows, ids = [], []
    for i in range(n):
        created = now - days * 86400 * (1 - i / max(1, n))
        version = versions[min(len(versions) - 1, i * len(versions) // max(1, n))]
        text = texts[i % len(texts)]
        failed = rng.random() < 0.02
        output = None if failed else (HOSTILE if i % 97 == 3 else LABELS[text])
        ids.append(f"req-{seed}-{i:06d}")
        rows.append({"id": ids[-1], "created": created, "prompt": prompt, "version": version,
                     "alias": "production", "inputs": {"text": text}, "output": output,
                     "error": "provider timed out" if failed else None,
                     "latency_s": rng.uniform(0.05, 0.6) * (1.3 if version == 1 else 1.0),
                     "input_tokens": 40 + rng.randrange(20), "output_tokens": 2,
                     "cost_usd": 0.00012, "user_id": f"user-{rng.randrange(50)}"})
    for start in range(0, len(rows), 1000):
        store.log_requests(rows[start:start + 1000])
    for i in range(0, n, feedback_every):
        if rows[i]["error"] is None:
            good = rng.random() < (0.6 if rows[i]["version"] == versions[0] else 0.85)
            store.add_feedback(ids[i], score=1.0 if good else 0.0,
                               comment=HOSTILE_IMG if i % 50 == 0 else None)
    return ids
