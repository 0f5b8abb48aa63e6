"""The same seed and budget give the identical result with a cold cache, a warm cache, or after
an interruption and ``--resume``, for every built-in optimizer; real calls never exceed the
budget and are reported for each run."""

from __future__ import annotations

import asyncio
import hashlib
from pathlib import Path
from typing import Any

import pytest

import honed
from honed.engine.budget import Limits
from honed.lifecycle.optimize import OptimizeOptions, optimize
from honed.optimizers.session import SearchOptions
from honed.providers.base import Request
from honed.providers.fake import FakeModel, last_user

LABELS = ("positive", "negative", "neutral")
WORDS = ("good", "bad", "fine", "great", "poor", "okay", "nice", "awful", "plain")


def _rows(n: int, offset: int) -> list[dict[str, str]]:
    return [{"text": f"{WORDS[(i * 5) % len(WORDS)]} item {i + offset}",
             "label": LABELS[(i * 5) % len(WORDS) % 3]} for i in range(n)]


def _answer(request: Request) -> str:
    """A scripted model whose accuracy depends on the whole prompt (system, demos, input)."""
    system = next((m.content for m in request.messages if m.role == "system"), "")
    text = last_user(request)
    truth = LABELS[WORDS.index(text.split()[0]) % 3] if text.split()[0] in WORDS else "positive"
    key = f"{system}|{len(request.messages)}|{text}".encode()
    return truth if hashlib.sha256(key).digest()[0] % 3 else "positive"


def _reflect(request: Request) -> str:
    """A reflection model that proposes a rule drawn from the request's seed."""
    rule = ("Answer with the label only.", "Mind negations.", "Neutral means no opinion.",
            "Think about the first word.")[(request.seed or 0) % 4]
    return (f"<<<RATIONALE\nadd a rule\n>>>\n<<<SYSTEM\nClassify the review. {rule}\n>>>\n"
            "<<<USER\n{text}\n>>>\n")


def _task() -> honed.Task:
    return honed.Task(name="det", model="fake", tracking="none",
                      prompt={"system": "Classify the review.", "user": "{text}"},
                      data={"train": _rows(40, 0), "val": _rows(16, 100),
                            "test": _rows(16, 200)},
                      evals=[{"type": "exact_match", "expected": "{label}"}],
                      output={"choices": list(LABELS)})


class _Stop(BaseException):
    """An interruption from outside (like Ctrl-C): nothing inside honed catches it."""


def _dies_after(calls: int) -> Any:
    made = [0]

    def answer(request: Request) -> str:
        made[0] += 1
        if made[0] > calls:
            raise _Stop
        return _answer(request)

    return answer


def _run(name: str, home: Path, limits: Limits, *, resume: bool = False,
         die_after: int | None = None) -> dict[str, Any]:
    reflection = FakeModel(_reflect) if name in ("reflective", "pareto") else None
    options = OptimizeOptions(optimizer=name,
                              search=SearchOptions(seed=7, limits=limits, home=home),
                              resume=resume, write_output=False)
    script = _answer if die_after is None else _dies_after(die_after)
    result = asyncio.run(optimize(_task(), options, model=FakeModel(script),
                                  reflection=reflection))
    return result.to_dict()


def _same(a: dict[str, Any], b: dict[str, Any]) -> None:
    for key in ("seed", "best", "test_diff", "rollouts", "stopped", "candidates"):
        assert a[key] == b[key], key


LIMITS = {"calls": Limits(max_calls=260), "tokens": Limits(max_tokens=9000)}


@pytest.mark.parametrize("name", ["auto", "bayes", "fewshot", "mutate", "pareto",
                                  "reflective"])
@pytest.mark.parametrize("limit", ["calls", "tokens"])
def test_cold_warm_and_resumed_runs_agree(name: str, limit: str, tmp_path: Path) -> None:
    limits = LIMITS[limit]
    cold = _run(name, tmp_path / "a", limits)
    warm = _run(name, tmp_path / "a", limits)  # same state folder: every call is cached
    _same(cold, warm)
    assert warm["calls"] < cold["calls"] and warm["cache_hits"] > 0
    assert cold["calls"] <= (limits.max_calls or cold["calls"])
    assert cold["input_tokens"] + cold["output_tokens"] <= (limits.max_tokens or 10**9)

    with pytest.raises(_Stop):
        _run(name, tmp_path / "b", limits, die_after=cold["calls"] // 2)
    resumed = _run(name, tmp_path / "b", limits, resume=True)
    _same(cold, resumed)
